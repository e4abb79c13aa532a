"""The regularised linear candidate: linear splines on numbers, one-hot on categories.

Each number becomes its standardised value plus hinge terms ``max(0, z - knot)`` at its
quantiles (a linear spline), and a missing-value indicator when training saw gaps. The
spline bends where the data does and continues in a straight line beyond the training
range, so unlike trees this member extrapolates a trend; on data whose level drifts in
time it is often the member that should carry the blend.

The model is additive per input column, so centring each column's terms on their
training mean gives its exact SHAP values; the spline is evaluated with plain array
operations, which keeps one row in microseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from foresight.platform.tabular.members import CVResult, Design, OnTrial, score_oof
from foresight.platform.tabular.splits import Fold

KNOT_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
STRENGTHS = (1.0, 0.1, 0.01, 10.0)  # C (classification) or 1/alpha, default first


@dataclass
class Basis:
    """The design matrix of the linear member, learnt from training rows."""

    numeric: np.ndarray  # column indices
    fill: np.ndarray  # median, used for missing numbers
    mean: np.ndarray
    scale: np.ndarray
    knots: np.ndarray  # (numeric, knots) in standardised units, NaN-padded
    gaps: np.ndarray  # bool per numeric column: a missing-value indicator is added
    # Standardised values are clipped to the training range widened by its own width on
    # each side: a trend still extrapolates, a typo like tenure=9999 does not explode.
    z_low: np.ndarray
    z_high: np.ndarray
    categorical: list[tuple[int, int]]  # (column index, number of categories)
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # per design col

    @classmethod
    def learn(cls, d: Design, matrix: np.ndarray) -> Basis:
        sig = d.signature
        numeric = np.array([i for i, c in enumerate(sig.columns) if c.kind == "numeric"], int)
        values = matrix[:, numeric]
        fill = np.nan_to_num(np.nanmedian(values, axis=0)) if len(numeric) else np.zeros(0)
        filled = np.where(np.isnan(values), fill, values)
        mean = filled.mean(axis=0) if len(numeric) else np.zeros(0)
        std = filled.std(axis=0) if len(numeric) else np.ones(0)
        scale = np.where(std > 0, std, 1.0)
        z = (filled - mean) / scale
        knots = np.full((len(numeric), len(KNOT_QUANTILES)), np.nan)
        observed = ~np.isnan(values)
        for j in range(len(numeric)):
            # Knots at the quantiles of the values present: a mostly-missing column (an
            # hour that applies to one weekday) would otherwise have them all at its fill.
            seen = z[observed[:, j], j]
            if len(seen):
                qs = np.unique(np.quantile(seen, KNOT_QUANTILES))
                knots[j, : len(qs)] = qs
        gaps = np.isnan(values).any(axis=0) if len(numeric) else np.zeros(0, bool)
        low, high = (z.min(axis=0), z.max(axis=0)) if len(z) else (np.zeros(0), np.zeros(0))
        width = high - low
        cats = [(i, len(sig.columns[i].categories)) for i in sig.categorical_indices]
        basis = cls(numeric, fill, mean, scale, knots, gaps, low - width, high + width, cats)
        basis.owner = basis._owners()
        return basis

    def _owners(self) -> np.ndarray:
        owners: list[int] = list(self.numeric)
        for j, col in enumerate(self.numeric):
            owners += [int(col)] * int((~np.isnan(self.knots[j])).sum())
        owners += [int(c) for c, g in zip(self.numeric, self.gaps, strict=True) if g]
        for col, n in self.categorical:
            owners += [col] * (n + 1)  # the categories, then "missing"
        return np.array(owners, dtype=int)

    def design(self, matrix: np.ndarray) -> np.ndarray:
        n = len(matrix)
        parts: list[np.ndarray] = []
        if len(self.numeric):
            values = matrix[:, self.numeric]
            missing = np.isnan(values)
            z = (np.where(missing, self.fill, values) - self.mean) / self.scale
            z = np.clip(z, self.z_low, self.z_high)
            hinge = np.maximum(0.0, z[:, :, None] - self.knots[None, :, :])
            present = ~np.isnan(self.knots)
            parts += [z, hinge[:, present]]  # column-major per numeric column's knots
            parts.append(missing[:, self.gaps].astype(float))
        for col, count in self.categorical:
            codes = matrix[:, col]
            onehot = np.zeros((n, count + 1))
            known = ~np.isnan(codes)
            onehot[np.flatnonzero(known), codes[known].astype(int)] = 1.0
            onehot[~known, count] = 1.0
            parts.append(onehot)
        return np.hstack(parts) if parts else np.zeros((n, 0))


def _model(d: Design, strength: float) -> Any:
    if d.target.task == "regression":
        return Ridge(alpha=1.0 / strength)
    return LogisticRegression(C=strength, max_iter=3000)


def _margin(model: Any, x: np.ndarray) -> np.ndarray:
    out = model.decision_function(x) if hasattr(model, "decision_function") else model.predict(x)
    return np.asarray(out).reshape(len(x), -1)


def _out_of_fold(
    d: Design, folds: list[Fold], strength: float, stop_at: float | None
) -> np.ndarray | None:
    """Out-of-fold margins at one regularisation strength; None if ``stop_at`` passed."""
    oof = np.full((len(d.y), d.target.width), np.nan)
    for tr, va in folds:
        if stop_at is not None and time.perf_counter() > stop_at:
            return None
        basis = Basis.learn(d, d.matrix[tr])
        model = _model(d, strength).fit(basis.design(d.matrix[tr]), d.y[tr])
        oof[va] = _margin(model, basis.design(d.matrix[va]))
    return oof


class LinearCandidate:
    name = "linear"

    def __init__(self, max_trials: int = len(STRENGTHS)) -> None:
        self.strengths = STRENGTHS[: max(1, max_trials)]

    def cross_validate(
        self, d: Design, folds: list[Fold], seconds: float, on_trial: OnTrial
    ) -> CVResult:
        started = time.perf_counter()
        best: CVResult | None = None
        tried = 0
        for strength in self.strengths:
            # The default strength always runs to the end; the others only in time.
            stop_at = None if best is None else started + seconds
            oof = _out_of_fold(d, folds, strength, stop_at)
            if oof is None:
                break
            tried += 1
            score = score_oof(d, oof)
            if best is None or d.metric.better(score, best.score):
                best = CVResult(oof, score, {"strength": strength}, 0.0)
            on_trial(self.name, tried, best.score)
        assert best is not None
        best.seconds, best.trials = time.perf_counter() - started, tried
        return best

    def fit(self, d: Design, cv: CVResult) -> LinearMember:
        basis = Basis.learn(d, d.matrix)
        design = basis.design(d.matrix)
        model = _model(d, cv.params["strength"]).fit(design, d.y)
        coef = np.asarray(model.coef_, dtype=float).reshape(-1, design.shape[1]).T  # (p, w)
        intercept = np.asarray(model.intercept_, dtype=float).reshape(-1)
        if d.target.width == 1 and len(intercept) != 1:
            intercept = intercept[:1]
        centre = design.mean(axis=0)
        ncol = len(d.signature.columns)
        owner_matrix = np.zeros((design.shape[1], ncol))
        owner_matrix[np.arange(design.shape[1]), basis.owner] = 1.0
        return LinearMember(
            basis, coef, intercept + centre @ coef, centre, owner_matrix, dict(cv.params)
        )


@dataclass
class LinearMember:
    basis: Basis
    coef: np.ndarray  # (design columns, width)
    base: np.ndarray  # (width,) the margin at the training mean of every term
    centre: np.ndarray  # (design columns,)
    owner_matrix: np.ndarray  # (design columns, features): which input owns a term
    params: dict[str, Any]
    name: str = "linear"

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray((self.basis.design(matrix) - self.centre) @ self.coef + self.base)

    @property
    def _terms(self) -> np.ndarray:
        """(design columns, width * features): a term's weight, filed under its input."""
        terms: np.ndarray | None = self.__dict__.get("_terms_cache")
        if terms is None:
            per = self.coef[:, :, None] * self.owner_matrix[:, None, :]  # (p, w, k)
            terms = self.__dict__["_terms_cache"] = per.reshape(len(self.coef), -1)
        return terms

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_terms_cache"}

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        centred = self.basis.design(matrix) - self.centre  # (n, p)
        width, k = len(self.base), self.owner_matrix.shape[1]
        terms = (centred @ self._terms).reshape(len(matrix), width, k)
        base = np.broadcast_to(self.base[None, :, None], (len(matrix), width, 1))
        return np.concatenate([terms, base], axis=2)

    def margin_one(self, row: np.ndarray) -> np.ndarray:
        return self.margin(row.reshape(1, -1))[0]

    def contributions_one(self, row: np.ndarray) -> np.ndarray:
        return self.contributions(row.reshape(1, -1))[0]
