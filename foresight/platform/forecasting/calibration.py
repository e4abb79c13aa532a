"""From backtest forecasts to calibration: each member's out-of-sample errors as records
(for the ensemble weights) and the scaled errors the conformal intervals are cut from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foresight.platform.forecasting import ensemble, metrics
from foresight.platform.forecasting.local import BASELINE, SeriesResult

ENSEMBLE = "ensemble"


def error_scale(y: np.ndarray, m: int) -> float:
    s = metrics.mase_scale(y, m)
    if not np.isfinite(s) or s <= 0:
        s = float(np.mean(np.abs(y))) or 1.0
    return s


def backtest_records(
    results: list[SeriesResult],
    members: list[str],
    global_back: dict[str, dict[int, np.ndarray]],
    arrays: list[np.ndarray],
    m: int,
    group_of: np.ndarray,
    nonnegative: np.ndarray,
) -> tuple[ensemble.Records, list[tuple[str, int]]]:
    preds, actual, scale, group, base, rows = [], [], [], [], [], []
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
            preds.append(np.stack(stack))
            actual.append(y_test)
            scale.append(metrics.mase_scale(arrays[i][:cut], m))
            group.append(group_of[i])
            base.append(window_preds[BASELINE])
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
        ),
        rows,
    )


def calibrate(
    records: ensemble.Records,
    rows: list[tuple[str, int]],
    weights: dict[str, dict[str, float]],
    group_of: np.ndarray,
    arrays: list[np.ndarray],
    m: int,
    h: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame]:
    """Conformal scores per group (per step and cumulative), and the backtest table."""
    members = records.members
    ens = np.zeros_like(records.actual)
    for r in range(len(records)):
        w = weights[records.group[r]]
        ens[r] = sum(w[name] * records.preds[r, members.index(name)] for name in w)
    safe = np.where(np.isfinite(records.scale) & (records.scale > 0), records.scale, np.nan)
    err = np.abs(records.actual - ens) / safe[:, None]
    cum = np.abs(np.cumsum(records.actual, axis=1) - np.cumsum(ens, axis=1)) / safe[:, None]
    ok = np.isfinite(err).all(axis=1)
    scores: dict[str, np.ndarray] = {}
    cum_scores: dict[str, np.ndarray] = {}
    pooled, pooled_cum = err[ok], cum[ok]
    if not len(pooled):
        # No backtest was possible (all series short): seasonal-naive in-sample errors,
        # widened with the square root of the step as a random walk's would be.
        naive = [np.abs(a[m:] - a[:-m]) / error_scale(a, m) for a in arrays if len(a) > m] or [
            np.ones(1)
        ]
        base = np.concatenate(naive)
        pooled = base[:, None] * np.sqrt(np.arange(1, h + 1))[None, :]
        pooled_cum = base[:, None] * np.arange(1, h + 1)[None, :]
    for g in np.unique(group_of):
        mine = ok & (records.group == g) if len(records) else np.zeros(0, dtype=bool)
        enough = mine.sum() >= ensemble.MIN_RECORDS
        scores[g] = err[mine] if enough else pooled
        cum_scores[g] = cum[mine] if enough else pooled_cum

    table = []
    for r, (uid, window) in enumerate(rows):
        y = records.actual[r]
        train_scale = records.scale[r]
        candidates = {name: records.preds[r, k] for k, name in enumerate(members)}
        candidates[BASELINE] = records.baseline[r]
        candidates[ENSEMBLE] = ens[r]
        for name, f in candidates.items():
            mae = float(np.mean(np.abs(y - f)))
            table.append(
                {
                    "unique_id": uid,
                    "window": window,
                    "model": name,
                    "smape": metrics.smape(y, f),
                    "mase": mae / train_scale if train_scale and train_scale > 0 else np.nan,
                    "mae": mae,
                    "rmse": metrics.rmse(y, f),
                    "mape": metrics.mape(y, f),
                }
            )
    return scores, cum_scores, pd.DataFrame(table)
