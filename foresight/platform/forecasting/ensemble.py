"""Ensemble weights chosen on backtests, and conformal prediction intervals.

Weights: every non-empty subset of the members is a candidate, averaged with equal
weights (equal-weight combinations are hard to beat and do not overfit a few windows).
The candidate with the best backtest score wins, where the score is the M4 competition's
OWA: sMAPE and MASE, each relative to seasonal naive, averaged. Among candidates within
``TIE`` of the best, the one with more members wins — a combination is the safer bet.

Intervals: split-conformal on the backtest. For each group and horizon step the absolute
ensemble errors, divided by each series' MASE scale, form the score distribution; the
interval at level L is ``y_hat ± q_L * scale`` with the finite-sample corrected quantile.
Widths never shrink with the step.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import metrics

TIE = 0.005
MIN_RECORDS = 10  # a group with fewer backtest forecasts borrows the pooled choice


@dataclass
class Records:
    """Backtest forecasts: R records (series × window) of ``horizon`` steps each."""

    members: tuple[str, ...]
    preds: np.ndarray  # R × K × h
    actual: np.ndarray  # R × h
    scale: np.ndarray  # R, the MASE scale of each record's training part
    group: np.ndarray  # R, group label
    baseline: np.ndarray  # R × h, seasonal naive

    def subset(self, mask: np.ndarray) -> Records:
        return Records(
            self.members,
            self.preds[mask],
            self.actual[mask],
            self.scale[mask],
            self.group[mask],
            self.baseline[mask],
        )

    def __len__(self) -> int:
        return len(self.actual)


def mase_rows(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    mae = np.abs(actual - forecast).mean(axis=-1)
    ok = np.isfinite(scale) & (scale > 0)
    return np.where(ok, mae / np.where(ok, scale, 1.0), np.nan)


def owa(records: Records, forecast: np.ndarray) -> float:
    """sMAPE and MASE relative to seasonal naive, averaged (lower is better; naive = 1)."""
    base_s = np.mean(metrics.smape_rows(records.actual, records.baseline))
    s = np.mean(metrics.smape_rows(records.actual, forecast))
    mase_base = mase_rows(records.actual, records.baseline, records.scale)
    ok = np.isfinite(mase_base)  # flat training parts have no MASE scale
    if not ok.any():
        return float(s / base_s) if base_s > 0 else 1.0
    base_m = float(np.mean(mase_base[ok]))
    m = float(np.nanmean(mase_rows(records.actual, forecast, records.scale)[ok]))
    rel_s = s / base_s if base_s > 0 else 1.0
    rel_m = m / base_m if base_m > 0 else 1.0
    return float((rel_s + rel_m) / 2)


def choose(records: Records) -> tuple[dict[str, float], list[dict[str, object]]]:
    """The winning weights and the score of every candidate (best first)."""
    k = len(records.members)
    candidates = []
    for size in range(1, k + 1):
        for combo in itertools.combinations(range(k), size):
            forecast = records.preds[:, list(combo), :].mean(axis=1)
            candidates.append((owa(records, forecast), combo))
    best = min(score for score, _ in candidates)
    near = [c for c in candidates if c[0] <= best * (1 + TIE)]
    _score, combo = min(near, key=lambda c: (-len(c[1]), c[0]))
    weights = {records.members[i]: 1.0 / len(combo) for i in combo}
    table = [
        {"members": [records.members[i] for i in c], "owa": round(s, 4)}
        for s, c in sorted(candidates)
    ]
    return weights, table


def combine(preds: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(w * preds[name] for name, w in weights.items())  # type: ignore[return-value]


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Per-step quantile of ``scores`` (n × h) with the split-conformal correction."""
    n = scores.shape[0]
    if n == 0:
        raise ValueError("no calibration scores")
    q = min(1.0, math.ceil((n + 1) * level / 100.0) / n)
    per_step = np.quantile(scores, q, axis=0)
    return np.maximum.accumulate(per_step)


def validate_levels(levels: tuple[float, ...]) -> tuple[float, ...]:
    for level in levels:
        if not 0 < level < 100:
            raise InvalidInput(f"interval level {level} must be between 0 and 100 (e.g. 80 95)")
    return tuple(sorted(set(float(v) for v in levels)))
