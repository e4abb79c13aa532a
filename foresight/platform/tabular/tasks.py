"""Task types, the target's encoding and the metrics a learner is judged by.

Every member of the learner works in *margin* space: one column for a binary task
(log-odds) or a regression (the value), one per class for a multiclass task (logits).
Blends, explanations and calibration all happen there, so explanations stay additive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, roc_auc_score

from foresight.platform.errors import InvalidInput

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
MAX_CLASSES = 50  # more distinct labels than this is a regression or an identifier
# An integer target with more distinct values than this is read as a quantity.
MAX_INTEGER_CLASSES = 20


def infer_task(target: pd.Series) -> Task:
    """binary (two values), multiclass (a few labels) or regression (numbers).

    >>> infer_task(pd.Series(["yes", "no", "yes"]))
    'binary'
    >>> infer_task(pd.Series([1.5, 2.25, 3.0, 4.0]))
    'regression'
    """
    values = target.dropna()
    distinct = values.nunique()
    if distinct <= 2:
        return "binary"
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and not pd.api.types.is_bool_dtype(values):
        whole = bool(np.all(np.mod(numeric.astype(float), 1) == 0))
        if not whole or distinct > MAX_INTEGER_CLASSES:
            return "regression"
    return "multiclass"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class Target:
    """How the user's target maps to what the members fit: class codes or floats."""

    task: Task
    classes: list[str]  # class labels in code order; [] for regression

    @classmethod
    def of(cls, values: pd.Series, task: Task) -> Target:
        if task == "regression":
            return cls(task, [])
        labels = sorted({label_of(v) for v in values})
        return cls(task, labels)

    @property
    def width(self) -> int:
        """Margin columns: one per class for multiclass, else one."""
        return len(self.classes) if self.task == "multiclass" else 1

    def encode(self, values: pd.Series) -> np.ndarray:
        if self.task == "regression":
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.isna().any():
                bad = np.flatnonzero(numbers.isna().to_numpy())[:5] + 2
                raise InvalidInput(
                    "a regression target must be numeric; not a number in row(s) "
                    + ", ".join(map(str, bad))
                )
            return numbers.to_numpy(dtype=np.float64)
        codes = {c: i for i, c in enumerate(self.classes)}
        return np.array([codes[label_of(v)] for v in values], dtype=np.int64)

    def probabilities(self, margin: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities from margins (classification only)."""
        if self.task == "binary":
            p = sigmoid(margin[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(margin)


def label_of(value: object) -> str:
    """A target value as a class label (1.0, 1 and '1' are one class)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---- metrics ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    # (y, margins) -> value; margins as the members produce them (see module docstring).
    score: Callable[[np.ndarray, np.ndarray, Target], float]

    def better(self, a: float, b: float) -> bool:
        """Is ``a`` strictly better than ``b``?"""
        return a > b if self.higher_is_better else a < b

    def loss(self, value: float) -> float:
        """Lower is better, whatever the metric."""
        return -value if self.higher_is_better else value


def _roc_auc(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    if t.task == "binary":
        return float(roc_auc_score(y, m[:, 0]))
    return float(roc_auc_score(y, t.probabilities(m), multi_class="ovr"))


def _log_loss(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    p = np.clip(t.probabilities(m), 1e-15, 1)
    return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=range(p.shape[1])))


def _macro_f1(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    return float(f1_score(y, t.probabilities(m).argmax(axis=1), average="macro"))


def _accuracy(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    return float((t.probabilities(m).argmax(axis=1) == y).mean())


def _rmse(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    return float(np.sqrt(np.mean((y - m[:, 0]) ** 2)))


def _mae(y: np.ndarray, m: np.ndarray, t: Target) -> float:
    return float(mean_absolute_error(y, m[:, 0]))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, _roc_auc),
        Metric("log_loss", False, _log_loss),
        Metric("macro_f1", True, _macro_f1),
        Metric("accuracy", True, _accuracy),
        Metric("rmse", False, _rmse),
        Metric("mae", False, _mae),
    )
}
DEFAULT_METRIC: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}
FOR_TASK: dict[Task, tuple[str, ...]] = {
    "binary": ("roc_auc", "log_loss", "accuracy"),
    "multiclass": ("log_loss", "macro_f1", "accuracy"),
    "regression": ("rmse", "mae"),
}


def metric_for(task: Task, name: str | None) -> Metric:
    """The named metric, checked against the task; the task's default when None."""
    name = name or DEFAULT_METRIC[task]
    if name not in FOR_TASK[task]:
        raise InvalidInput(
            f"metric {name!r} does not fit a {task} task; choose one of "
            + ", ".join(FOR_TASK[task])
        )
    return METRICS[name]


def all_metrics(y: np.ndarray, margin: np.ndarray, target: Target) -> dict[str, float]:
    """Every metric of the task (plus ECE for binary) on these rows."""
    out = {name: METRICS[name].score(y, margin, target) for name in FOR_TASK[target.task]}
    if target.task == "binary":
        out["ece"] = expected_calibration_error(y, sigmoid(margin[:, 0]))
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |observed rate - mean probability| over equal-width bins, weighted by size.

    >>> round(expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])), 3)
    0.0
    """
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return total / max(1, len(y))
