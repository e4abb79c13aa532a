"""Test-set metrics of the tabular benchmark, shared by every method.

Every method hands back the same :class:`Predictions` (class probabilities in the order
of ``classes``, or point predictions with an optional interval), and these functions
score them, so no method is scored by its own library's code.

- binary: ROC-AUC, log loss and ECE of the event class's probability;
- multiclass: log loss, accuracy and macro-F1 (predicted class = highest probability);
- regression: RMSE, MAE and, where a method gives an interval, its empirical coverage
  and mean width;
- single-row latency of a model's ``predict_record(row, explain=True)``.

>>> round(expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])), 6)
0.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

HIGHER_IS_BETTER = frozenset({"roc_auc", "accuracy", "macro_f1"})
LATENCY_CALLS, LATENCY_WARMUP = 300, 30
EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] so one confident miss stays finite


@dataclass
class Predictions:
    """What a method predicts for the evaluated rows (exactly one of the two kinds)."""

    proba: np.ndarray | None = None  # (rows, classes), columns in the order of ``classes``
    point: np.ndarray | None = None  # regression
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    def take(self, rows: slice) -> Predictions:
        """The predictions of a block of rows (one evaluated part)."""

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return Predictions(cut(self.proba), cut(self.point), cut(self.lower), cut(self.upper))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = 15) -> float:
    """ECE with ``bins`` equal-width bins: Σ (rows in bin / rows) · |event rate − mean p|.

    ``y`` is 0/1, ``p`` the predicted probability of 1; p = 1.0 falls in the last bin.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(total)


def normalized(proba: np.ndarray) -> np.ndarray:
    """Clip to [EPS, 1] and make each row sum to one."""
    clipped = np.clip(np.asarray(proba, dtype=float), EPS, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def binary_scores(y: np.ndarray, proba: np.ndarray, classes: list[str], positive: str) -> dict:
    """ROC-AUC, log loss and ECE, all on the probability of ``positive``."""
    p = normalized(proba)[:, classes.index(positive)]
    event = (np.asarray(y).astype(str) == positive).astype(int)
    return {
        "roc_auc": float(roc_auc_score(event, p)),
        "log_loss": float(log_loss(event, p, labels=[0, 1])),
        "ece": expected_calibration_error(event, p),
    }


def multiclass_scores(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Log loss, accuracy and macro-F1; the predicted class is the most probable one."""
    p = normalized(proba)
    truth = np.asarray(y).astype(str)
    predicted = np.asarray(classes)[p.argmax(axis=1)]
    return {
        "log_loss": float(log_loss(truth, p, labels=classes)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro")),
    }


def regression_scores(
    y: np.ndarray,
    point: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> dict:
    """RMSE and MAE; with an interval also its coverage (share of y inside) and mean width."""
    y, point = np.asarray(y, dtype=float), np.asarray(point, dtype=float)
    out = {
        "rmse": float(np.sqrt(np.mean((y - point) ** 2))),
        "mae": float(np.mean(np.abs(y - point))),
    }
    if lower is not None and upper is not None:
        lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        out["coverage"] = float(np.mean((y >= lo) & (y <= hi)))
        out["interval_width"] = float(np.mean(hi - lo))
    return out


def score(
    task: str,
    y: np.ndarray,
    predictions: Predictions,
    *,
    classes: list[str],
    positive: str | None = None,
) -> dict:
    """The metrics of ``task`` for one evaluated part."""
    if task == "regression":
        if predictions.point is None:
            raise ValueError("a regression method must give point predictions")
        return regression_scores(
            y, predictions.point, lower=predictions.lower, upper=predictions.upper
        )
    if predictions.proba is None:
        raise ValueError("a classification method must give class probabilities")
    if task == "binary":
        if positive is None:
            raise ValueError("binary scoring needs the positive class")
        return binary_scores(y, predictions.proba, classes, positive)
    return multiclass_scores(y, predictions.proba, classes)


def at_least_as_good(metric: str, ours: float, theirs: float) -> bool:
    """``ours`` ≥ ``theirs`` in quality: higher for ROC-AUC/accuracy/F1, lower for losses."""
    return ours >= theirs if metric in HIGHER_IS_BETTER else ours <= theirs


def percentile_us(samples_ns: list[int], q: float) -> float:
    """The ``q``-th percentile of timings taken in nanoseconds, in microseconds."""
    return float(np.percentile(np.asarray(samples_ns, dtype=float), q) / 1000.0)


def single_row_latency(model: Any, rows: pd.DataFrame) -> dict[str, float]:
    """``predict_record(row, explain=True)``: median and p99 µs over 300 calls after a warm-up.

    Rows are plain dicts as a JSON request would give them (NaN becomes None), cycled
    when the test part has fewer than 300 rows.
    """
    from foresight.platform.errors import InvalidInput

    records = []
    refused = 0
    # The API refuses a record with a category the model never saw (a 422); the timing
    # is of the answers, so such test rows are skipped and counted.
    for r in rows.head(LATENCY_CALLS).to_dict("records"):
        record = {k: (None if _missing(v) else v) for k, v in r.items()}
        try:
            model.predict_record(record, explain=True)
        except InvalidInput:
            refused += 1
            continue
        records.append(record)
    if not records:
        raise ValueError(f"all {refused} test rows were refused by the signature")
    for i in range(LATENCY_WARMUP):
        model.predict_record(records[i % len(records)], explain=True)
    samples = []
    for i in range(LATENCY_CALLS):
        record = records[i % len(records)]
        t0 = time.perf_counter_ns()
        model.predict_record(record, explain=True)
        samples.append(time.perf_counter_ns() - t0)
    return {
        "p50": percentile_us(samples, 50),
        "p99": percentile_us(samples, 99),
        "refused_rows": refused,
    }


def _missing(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


def paired_advantage(
    task: str,
    metric: str,
    y: np.ndarray,
    ours: Predictions,
    theirs: Predictions,
    *,
    classes: list[str],
    positive: str | None = None,
    rounds: int = 400,
    seed: int = 0,
) -> dict[str, float]:
    """How much better ``ours`` is than ``theirs`` on ``metric`` (positive: ours is
    better), with a 95 % paired bootstrap interval over the evaluated rows.

    One split's test rows are few on most of these data sets; the interval says whether
    a difference is larger than what resampling those rows alone would produce.
    """
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0

    def value(p: Predictions, rows: np.ndarray) -> float:
        picked = Predictions(
            *(None if a is None else a[rows] for a in (p.proba, p.point, p.lower, p.upper))
        )
        return float(score(task, y[rows], picked, classes=classes, positive=positive)[metric])

    everything = np.arange(len(y))
    delta = sign * (value(ours, everything) - value(theirs, everything))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        try:
            draws.append(sign * (value(ours, rows) - value(theirs, rows)))
        except ValueError:  # a resample with one class only: ROC-AUC is undefined
            continue
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"delta": delta, "lo": float(lo), "hi": float(hi)}
