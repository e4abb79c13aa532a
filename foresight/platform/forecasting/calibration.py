"""From backtest forecasts to calibration: each member's out-of-sample errors as records
(for the ensemble weights) and the scaled errors the conformal intervals are cut from.

With closed periods (``closed``: one boolean mask per series over its history), closed
steps are left out everywhere: a backtest window that is closed throughout gives no
record, closed steps count in no metric or conformal score, and the MASE scale is the
naive error between open steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foresight.platform.forecasting import ensemble, metrics
from foresight.platform.forecasting.local import BASELINE, SeriesResult

ENSEMBLE = "ensemble"


def error_scale(y: np.ndarray, m: int, *, mask: np.ndarray | None = None) -> float:
    """The MASE scale of ``y`` (on open steps if ``mask``), or its mean size if flat."""
    s = metrics.mase_scale(y, m, mask=mask)
    if not np.isfinite(s) or s <= 0:
        part = y if mask is None else y[mask]
        s = float(np.mean(np.abs(part))) if len(part) else 0.0
        s = s or 1.0
    return s


def backtest_records(
    results: list[SeriesResult],
    members: list[str],
    global_back: dict[str, dict[int, np.ndarray]],
    arrays: list[np.ndarray],
    m: int,
    group_of: np.ndarray,
    nonnegative: np.ndarray,
    closed: list[np.ndarray] | None = None,
) -> tuple[ensemble.Records, list[tuple[str, int]]]:
    """Every backtest window as a record; ``closed`` (per series) leaves closed steps out."""
    preds, actual, scale, group, base, opens, rows = [], [], [], [], [], [], []
    for i, r in enumerate(results):
        for index, cut, window_preds, y_test in r.windows:
            stack = []
            for name in members:
                if name in global_back:
                    p = global_back[name][index][i]
                    if np.isnan(p).any():
                        p = window_preds[BASELINE]
                    elif nonnegative[i]:
                        p = np.maximum(p, 0)
                else:
                    p = window_preds[name]
                stack.append(p)
            train_mask = None
            if closed is not None:
                shut = closed[i][cut : cut + len(y_test)]
                if shut.all():
                    continue  # nothing open to score
                # Zeroed, so cumulative sums (period totals) also skip closed steps.
                stack = [np.where(shut, 0.0, p) for p in stack]
                y_test = np.where(shut, 0.0, y_test)
                opens.append(~shut)
                train_mask = ~closed[i][:cut]
            preds.append(np.stack(stack))
            actual.append(y_test)
            scale.append(metrics.mase_scale(arrays[i][:cut], m, mask=train_mask))
            group.append(group_of[i])
            baseline = window_preds[BASELINE]
            base.append(baseline if closed is None else np.where(opens[-1], baseline, 0.0))
            rows.append((r.uid, index))
    h = results[0].final[BASELINE].shape[0] if results else 0
    k = len(members)
    return (
        ensemble.Records(
            tuple(members),
            np.array(preds).reshape(-1, k, h),
            np.array(actual).reshape(-1, h),
            np.array(scale, dtype=float),
            np.array(group, dtype=str),
            np.array(base).reshape(-1, h),
            None if closed is None else np.array(opens, dtype=bool).reshape(-1, h),
        ),
        rows,
    )


def _naive_scores(
    arrays: list[np.ndarray], m: int, closed: list[np.ndarray] | None
) -> list[np.ndarray]:
    """In-sample seasonal-naive errors, scaled; between open steps only if ``closed``."""
    out = []
    for i, a in enumerate(arrays):
        if len(a) <= m:
            continue
        err = np.abs(a[m:] - a[:-m])
        mask = None
        if closed is not None:
            mask = ~closed[i]
            err = err[mask[m:] & mask[:-m]]
        out.append(err / error_scale(a, m, mask=mask))
    return out


def calibrate(
    records: ensemble.Records,
    rows: list[tuple[str, int]],
    weights: dict[str, dict[str, float]],
    group_of: np.ndarray,
    arrays: list[np.ndarray],
    m: int,
    h: int,
    closed: list[np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame]:
    """Conformal scores per group (per step and cumulative), and the backtest table.

    Closed steps (``records.open`` False) get NaN scores, which the quantile skips.
    """
    members = records.members
    ens = np.zeros_like(records.actual)
    for r in range(len(records)):
        w = weights[records.group[r]]
        ens[r] = sum(w[name] * records.preds[r, members.index(name)] for name in w)
    safe = np.where(np.isfinite(records.scale) & (records.scale > 0), records.scale, np.nan)
    err = np.abs(records.actual - ens) / safe[:, None]
    cum = np.abs(np.cumsum(records.actual, axis=1) - np.cumsum(ens, axis=1)) / safe[:, None]
    if records.open is None:
        ok = np.isfinite(err).all(axis=1)
    else:
        err = np.where(records.open, err, np.nan)
        ok = (np.isfinite(err) | ~records.open).all(axis=1) & np.isfinite(safe)
    scores: dict[str, np.ndarray] = {}
    cum_scores: dict[str, np.ndarray] = {}
    pooled, pooled_cum = err[ok], cum[ok]
    if not len(pooled):
        # No backtest was possible (all series short): seasonal-naive in-sample errors,
        # widened with the square root of the step as a random walk's would be.
        base = np.concatenate(_naive_scores(arrays, m, closed) or [np.ones(1)])
        if not len(base):
            base = np.ones(1)
        pooled = base[:, None] * np.sqrt(np.arange(1, h + 1))[None, :]
        pooled_cum = base[:, None] * np.arange(1, h + 1)[None, :]
    for g in np.unique(group_of):
        mine = ok & (records.group == g) if len(records) else np.zeros(0, dtype=bool)
        enough = mine.sum() >= ensemble.MIN_RECORDS
        scores[g] = err[mine] if enough else pooled
        cum_scores[g] = cum[mine] if enough else pooled_cum
    return scores, cum_scores, _table(records, rows, ens)


def _table(records: ensemble.Records, rows: list[tuple[str, int]], ens: np.ndarray) -> pd.DataFrame:
    """One row per series, window and model: the backtest metrics (open steps only)."""
    members = records.members
    table = []
    for r, (uid, window) in enumerate(rows):
        y = records.actual[r]
        mask = None if records.open is None else records.open[r]
        train_scale = records.scale[r]
        candidates = {name: records.preds[r, k] for k, name in enumerate(members)}
        candidates[BASELINE] = records.baseline[r]
        candidates[ENSEMBLE] = ens[r]
        for name, f in candidates.items():
            mae = metrics.mae(y, f, mask=mask)
            table.append(
                {
                    "unique_id": uid,
                    "window": window,
                    "model": name,
                    "smape": metrics.smape(y, f, mask=mask),
                    "mase": mae / train_scale if train_scale and train_scale > 0 else np.nan,
                    "mae": mae,
                    "rmse": metrics.rmse(y, f, mask=mask),
                    "mape": metrics.mape(y, f, mask=mask),
                }
            )
    return pd.DataFrame(table)
