"""Greedy ensemble selection on out-of-fold margins, and the calibration of the blend.

Ensemble selection (Caruana et al., 2004; AutoGluon's weighted ensemble) starts from
the best single member and adds, with replacement, whichever member improves the
out-of-fold score most; the weights are how often each was picked. A blend is kept only
when it beats the best single member out of fold.

Binary probabilities are calibrated on the blend's out-of-fold log-odds: Platt scaling,
isotonic regression or none, whichever has the lowest log loss in a cross-validation
of the calibrator itself (isotonic always wins on the rows it was fitted on). A
multiclass blend gets a temperature. A regression gets a conformal interval: the
quantile of its absolute out-of-fold residuals (the CV+ idea, without refitting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from foresight.platform.tabular.tasks import Metric, Target, sigmoid, softmax

STEPS = 40  # selection rounds: weights are multiples of 1/STEPS at best
MIN_GAIN = 1e-5  # an addition must improve the out-of-fold score by this much
INTERVAL_LEVEL = 0.9
TIE_BREAK = 1e-6  # isotonic: at most this much probability, to keep the margin's order


def select(
    oof: dict[str, np.ndarray], y: np.ndarray, metric: Metric, target: Target
) -> dict[str, float]:
    """Blend weights over the members in ``oof`` (name -> (n, width) margins)."""
    names = list(oof)
    scores = {n: metric.loss(metric.score(y, oof[n], target)) for n in names}
    best = min(names, key=lambda n: scores[n])
    counts = dict.fromkeys(names, 0)
    counts[best] = 1
    total, current, current_loss = 1, oof[best].copy(), scores[best]
    for _ in range(STEPS - 1):
        trials = {
            n: metric.loss(metric.score(y, (current * total + oof[n]) / (total + 1), target))
            for n in names
        }
        pick = min(names, key=lambda n: trials[n])
        if trials[pick] > current_loss - MIN_GAIN:
            break
        counts[pick] += 1
        current = (current * total + oof[pick]) / (total + 1)
        total += 1
        current_loss = trials[pick]
    return {n: c / total for n, c in counts.items() if c}


def combine(margins: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The blend's margins: the weighted sum of its members' margins."""
    return np.asarray(np.sum([w * margins[n] for n, w in weights.items()], axis=0))


@dataclass
class Calibration:
    """Maps blended margins to the answer's probabilities (or interval half-width)."""

    kind: str = "none"  # "none" | "platt" | "isotonic" | "temperature" | "conformal"
    a: float = 1.0  # platt slope / 1 / temperature
    b: float = 0.0
    xs: list[float] = field(default_factory=list)  # isotonic thresholds (log-odds)
    ys: list[float] = field(default_factory=list)
    half_width: float = 0.0  # conformal interval, target units
    level: float = INTERVAL_LEVEL
    report: dict[str, Any] = field(default_factory=dict)

    def probability(self, margin: np.ndarray) -> np.ndarray:
        """Binary: P(positive) per row from (n,) log-odds."""
        if self.kind == "isotonic":
            # Ties (the flat tails) are broken by the margin, so calibrating never
            # changes the ranking, and ROC-AUC is the blend's own.
            tie_break = TIE_BREAK * (sigmoid(margin) - 0.5)
            return np.asarray(np.interp(margin, self.xs, self.ys) + tie_break)
        return sigmoid(self.a * margin + self.b)

    def probabilities(self, margin: np.ndarray, target: Target) -> np.ndarray:
        """(n, classes) calibrated probabilities."""
        if target.task == "binary":
            p = self.probability(margin[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(self.a * margin)

    @property
    def affine(self) -> bool:
        """True when calibrated log-odds are an affine map of the margin (explanations
        stay exact in log-odds)."""
        return self.kind != "isotonic"


def calibrate(oof: np.ndarray, y: np.ndarray, target: Target, seed: int = 42) -> Calibration:
    """Fit the calibration of the blend on its out-of-fold margins."""
    if target.task == "regression":
        residual = np.abs(y - oof[:, 0])
        n = len(residual)
        q = min(1.0, np.ceil((n + 1) * INTERVAL_LEVEL) / n)
        half = float(np.quantile(residual, q))
        covered = float((residual <= half).mean())
        return Calibration("conformal", half_width=half, report={"oof_coverage": round(covered, 4)})
    if target.task == "multiclass":

        def nll(log_t: float) -> float:
            p = softmax(oof * np.exp(-log_t))
            return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1)).mean())

        res = minimize_scalar(nll, bounds=(-3, 3), method="bounded")
        return Calibration("temperature", a=float(np.exp(-res.x)), report={"log_loss": res.fun})
    return _binary(oof[:, 0], y, seed)


def _binary(z: np.ndarray, y: np.ndarray, seed: int) -> Calibration:
    losses: dict[str, list[float]] = {"none": [], "platt": [], "isotonic": []}
    k = max(2, min(5, int(np.bincount(y).min())))
    for tr, va in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, y):
        for kind in losses:
            cal = _fit_binary(kind, z[tr], y[tr])
            losses[kind].append(_nll(y[va], cal.probability(z[va])))
    mean = {kind: float(np.mean(v)) for kind, v in losses.items()}
    best = min(mean, key=lambda kind: mean[kind])
    cal = _fit_binary(best, z, y)
    cal.report = {"cv_log_loss": {k: round(v, 5) for k, v in mean.items()}, "chosen": best}
    return cal


def _fit_binary(kind: str, z: np.ndarray, y: np.ndarray) -> Calibration:
    if kind == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
        return Calibration("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    if kind == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(z, y)
        xs, ys = _block_centres(iso.X_thresholds_, iso.y_thresholds_)
        return Calibration("isotonic", xs=xs, ys=ys)
    return Calibration("none")


def _block_centres(xs: np.ndarray, ys: np.ndarray) -> tuple[list[float], list[float]]:
    """Isotonic regression's steps as one point per step, at the middle of its margins.

    Interpolating between the steps' centres instead of along their edges gives a
    strictly increasing map (no ties inside the data's range, so the ranking and
    ROC-AUC survive calibration) that is smoother where the steps are few.
    """
    centres: list[float] = []
    values: list[float] = []
    start = 0
    for i in range(1, len(ys) + 1):
        if i == len(ys) or ys[i] != ys[start]:
            centres.append(float((xs[start] + xs[i - 1]) / 2))
            values.append(float(ys[start]))
            start = i
    if len(centres) == 1:  # one step: a constant (the tie-break keeps the order)
        centres, values = [centres[0] - 1.0, centres[0] + 1.0], [values[0], values[0]]
    return centres, values


def _nll(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
