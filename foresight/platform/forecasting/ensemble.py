"""Ensemble weights chosen on backtests, and conformal prediction intervals.

Weights: every non-empty subset of the members is a candidate, averaged with equal
weights (equal-weight combinations are hard to beat and do not overfit a few windows).
The candidate with the best backtest score wins, where the score is the M4 competition's
OWA: sMAPE and MASE, each relative to seasonal naive, averaged. Among candidates within
``TIE`` of the best, the one with more members wins — a combination is the safer bet.

Intervals: split-conformal on the backtest. For each group and horizon step the absolute
ensemble errors, divided by each series' MASE scale, form the score distribution; the
interval at level L is ``y_hat ± q_L * scale`` with the finite-sample corrected quantile.
Widths never shrink with the step (with closed periods: per phase of the season).

Closed steps (``Records.open`` False) are left out of every score: the OWA averages each
record over its open steps, and their conformal scores are NaN, which the quantile skips.
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
    open: np.ndarray | None = None  # R × h, False at closed steps; None = all open

    def subset(self, mask: np.ndarray) -> Records:
        return Records(
            self.members,
            self.preds[mask],
            self.actual[mask],
            self.scale[mask],
            self.group[mask],
            self.baseline[mask],
            None if self.open is None else self.open[mask],
        )

    def __len__(self) -> int:
        return len(self.actual)


def mase_rows(
    actual: np.ndarray,
    forecast: np.ndarray,
    scale: np.ndarray,
    *,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """MASE of each record; with ``mask``, over the masked-in (open) steps only."""
    error = np.abs(actual - forecast)
    if mask is None:
        mae = error.mean(axis=-1)
    else:
        count = mask.sum(axis=-1)
        total = np.where(mask, error, 0.0).sum(axis=-1)
        mae = np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
    ok = np.isfinite(scale) & (scale > 0)
    return np.where(ok, mae / np.where(ok, scale, 1.0), np.nan)


def owa(records: Records, forecast: np.ndarray) -> float:
    """sMAPE and MASE relative to seasonal naive, averaged (lower is better; naive = 1)."""
    mask = records.open
    base_s = np.mean(metrics.smape_rows(records.actual, records.baseline, mask=mask))
    s = np.mean(metrics.smape_rows(records.actual, forecast, mask=mask))
    mase_base = mase_rows(records.actual, records.baseline, records.scale, mask=mask)
    ok = np.isfinite(mase_base)  # flat training parts have no MASE scale
    if not ok.any():
        return float(s / base_s) if base_s > 0 else 1.0
    base_m = float(np.mean(mase_base[ok]))
    m = float(np.nanmean(mase_rows(records.actual, forecast, records.scale, mask=mask)[ok]))
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


def conformal_quantile(scores: np.ndarray, level: float, *, season: int = 1) -> np.ndarray:
    """Per-step quantile of ``scores`` (n × h) with the split-conformal correction.

    Widths never shrink with the step. With ``season`` > 1 that holds per phase of the
    season (step k is at least as wide as step k - season): with closed periods, errors
    at an hour of the day depend on the hour far more than on the lead time, and a
    running maximum over all steps would carry the busiest hour's width into every
    quiet one. NaN scores (closed steps) are skipped: each step uses its own count, a
    step with none takes the width of its phase's step before (or after) it, and a
    phase never scored the widest step's.
    """
    n = scores.shape[0]
    if n == 0:
        raise ValueError("no calibration scores")
    if season == 1 and not np.isnan(scores).any():
        q = min(1.0, math.ceil((n + 1) * level / 100.0) / n)
        per_step = np.quantile(scores, q, axis=0)
        return np.maximum.accumulate(per_step)
    per_step = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        column = scores[~np.isnan(scores[:, k]), k]
        if len(column):
            q = min(1.0, math.ceil((len(column) + 1) * level / 100.0) / len(column))
            per_step[k] = np.quantile(column, q)
    if np.isnan(per_step).all():
        raise ValueError("no calibration scores")
    out = np.full_like(per_step, np.nanmax(per_step))
    for phase in range(min(season, len(per_step))):
        path = np.fmax.accumulate(per_step[phase::season])  # fmax skips NaN
        scored = np.flatnonzero(~np.isnan(path))
        if len(scored):
            path[: scored[0]] = path[scored[0]]
            out[phase::season] = path
    return out


def validate_levels(levels: tuple[float, ...]) -> tuple[float, ...]:
    for level in levels:
        if not 0 < level < 100:
            raise InvalidInput(f"interval level {level} must be between 0 and 100 (e.g. 80 95)")
    return tuple(sorted(set(float(v) for v in levels)))
