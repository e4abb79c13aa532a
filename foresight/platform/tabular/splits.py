"""Folds and held-out rows that respect the data: stratified, grouped or time-ordered.

With a time column the folds are expanding windows over the sorted rows: fold *i*
trains on the first *i* blocks and checks on block *i + 1*, so no training row is from
after a checked row. The first block is never checked: those rows have no out-of-fold
prediction (NaN), and everything scored out of fold skips them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from foresight.platform.tabular.tasks import Task

Fold = tuple[np.ndarray, np.ndarray]  # (train positions, validation positions)


@dataclass
class Plan:
    """How rows were split: the kind and the folds; ``checked`` marks rows with OOF."""

    kind: str  # "stratified" | "k-fold" | "group" | "time"
    folds: list[Fold]

    @property
    def checked(self) -> np.ndarray:
        n = max(int(max(tr.max(initial=-1), va.max(initial=-1))) for tr, va in self.folds) + 1
        mask = np.zeros(n, dtype=bool)
        for _, va in self.folds:
            mask[va] = True
        return mask


def make_folds(
    task: Task,
    y: np.ndarray,
    *,
    k: int = 5,
    seed: int = 42,
    groups: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> Plan:
    """``k`` folds: time-ordered with ``order``, grouped with ``groups``, else stratified
    (classification) or shuffled (regression)."""
    idx = np.arange(len(y))
    if order is not None:
        sorted_idx = np.argsort(order, kind="stable")
        blocks = np.array_split(sorted_idx, k + 1)
        folds = [
            (np.sort(np.concatenate(blocks[: i + 1])), np.sort(blocks[i + 1])) for i in range(k)
        ]
        return Plan("time", folds)
    classify = task != "regression"
    if classify:
        k = max(2, min(k, int(np.bincount(y.astype(int)).min())))
    if groups is not None:
        k = max(2, min(k, len(np.unique(groups))))
        if classify:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            return Plan("group", list(splitter.split(idx, y, groups)))
        return Plan("group", list(GroupKFold(n_splits=k).split(idx, y, groups)))
    if classify:
        splitter_s = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return Plan("stratified", list(splitter_s.split(idx, y)))
    return Plan("k-fold", list(KFold(n_splits=k, shuffle=True, random_state=seed).split(idx)))


def holdout(
    task: Task,
    y: np.ndarray,
    fraction: float,
    *,
    seed: int = 42,
    groups: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows): the latest rows with ``order``, whole groups with
    ``groups``, else a stratified random share. The held-out rows are never fitted on."""
    idx = np.arange(len(y))
    if fraction <= 0:
        return idx, idx[:0]
    if order is not None:
        cut = round(len(y) * (1 - fraction))
        sorted_idx = np.argsort(order, kind="stable")
        return np.sort(sorted_idx[:cut]), np.sort(sorted_idx[cut:])
    k = max(2, round(1 / fraction))
    plan = make_folds(task, y, k=k, seed=seed, groups=groups)
    train, held = plan.folds[0]
    return np.sort(train), np.sort(held)
