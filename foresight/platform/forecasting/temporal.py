"""Temporal reconciliation: make a fine-grained forecast (hours) agree with a coarse one
(days) of the same series.

A day's total is forecast better from daily data than by adding up 24 hourly forecasts:
the daily series is smoother and its models see far more seasons of it, while the hourly
models are chosen on how well they place demand *within* a day. Top-down reconciliation
keeps each hour's share of its day from the fine forecast and takes the day's total from
the coarse one (temporal hierarchies: Athanasopoulos, Hyndman, Kourentzes & Petropoulos,
"Forecasting with temporal hierarchies", EJOR 2017; top-down is their simplest variant).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting.result import ForecastResult


def reconcile_top_down(
    fine: ForecastResult, coarse: ForecastResult, *, period: str = "D", steps: int = 24
) -> ForecastResult:
    """``fine`` with each series' point forecast scaled, period by period, so that its
    sum over every ``period`` (a NumPy datetime unit, e.g. ``"D"``) equals ``coarse``'s
    forecast for that period.

    Only periods the fine horizon covers whole (``steps`` fine slots) and the coarse
    horizon contains are scaled; a period whose fine forecast sums to zero is left as it
    is (there is no within-period shape to scale). Series missing from ``coarse`` are
    unchanged. Intervals follow the point (their widths come from the fine backtest,
    which makes them slightly conservative), members and backtest are the fine ones, and
    a note records the reconciliation.
    """
    if steps < 1:
        raise InvalidInput(f"steps must be at least 1, got {steps}")
    for result in (fine, coarse):
        if not np.issubdtype(result.future.dtype, np.datetime64):
            raise InvalidInput("temporal reconciliation needs series stamped with dates")
    point = fine.point.astype(float, copy=True)
    fine_periods = fine.future.astype(f"datetime64[{period}]")
    coarse_periods = coarse.future.astype(f"datetime64[{period}]")
    scaled = 0
    for row, uid in enumerate(fine.uids):
        if uid not in coarse.uids:
            continue
        c = coarse.uids.index(uid)
        totals = dict(zip(coarse_periods[c].tolist(), coarse.point[c].tolist(), strict=True))
        labels, inverse, counts = np.unique(
            fine_periods[row], return_inverse=True, return_counts=True
        )
        sums = np.bincount(inverse, weights=point[row], minlength=len(labels))
        factor = np.ones(len(labels))
        for k, label in enumerate(labels.tolist()):
            total = totals.get(label)
            if total is None or counts[k] != steps or sums[k] <= 0:
                continue
            factor[k] = max(float(total), 0.0) / sums[k]
            scaled += 1
        point[row] *= factor[inverse]
    notes = dict(fine.notes)
    notes["reconciled"] = (
        f"top-down: each {period} period's sum matches the coarser forecast "
        f"({scaled} series-periods scaled)"
    )
    return replace(fine, point=point, notes=notes)
