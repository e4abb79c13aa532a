"""The restaurant demand benchmark's AutoETS baselines (statsforecast): on the zero-filled
series a user would give it, and fitted on the open slots only (the fairer variant).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.restaurant.hours import OpeningHours

JOBS = os.cpu_count() or 1
ETS_SEASON = {"h": 24, "D": 7}  # per pandas frequency


def auto_ets(
    long: pd.DataFrame, season: int, h: int, *, freq: Any
) -> tuple[dict[str, np.ndarray], dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """AutoETS per series with its own 80 and 95 % intervals: point and bounds by uid."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=freq, n_jobs=JOBS)
    fc = sf.forecast(df=long[["unique_id", "ds", "y"]], h=h, level=[80, 95])
    by = {str(u): g for u, g in fc.groupby("unique_id")}
    point = {u: g["AutoETS"].to_numpy() for u, g in by.items()}
    bounds: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for lv in (80, 95):
        lo, hi = f"AutoETS-lo-{lv}", f"AutoETS-hi-{lv}"
        bounds[lv] = {u: (g[lo].to_numpy(), g[hi].to_numpy()) for u, g in by.items()}
    return point, bounds


def auto_ets_open_slots(
    history: dict[str, np.ndarray],
    known_open: np.ndarray,
    future_open: np.ndarray,
    freq: str,
    opening: OpeningHours,
) -> dict[str, np.ndarray]:
    """AutoETS told the opening hours: fitted on the open slots alone (closed slots and
    known dark days removed), its forecasts put back on the open future slots, zeros
    elsewhere, negatives clipped. Hourly, its season is the open hours of a day."""
    season = ETS_SEASON[freq]
    if freq == "h":
        week = pd.date_range("2024-01-01", periods=168, freq="h").to_numpy()
        season = max(1, round(int((~opening.closed_mask(week, freq="h")).sum()) / 7))
    n_open = int(future_open.sum())
    t = np.arange(int(known_open.sum()))
    long = pd.concat(
        [pd.DataFrame({"unique_id": u, "ds": t, "y": y[known_open]}) for u, y in history.items()]
    )
    point, _ = auto_ets(long, season, max(n_open, 1), freq=1)
    out = {}
    for u, p in point.items():
        out[u] = np.zeros(len(future_open))
        out[u][future_open] = np.maximum(p[:n_open], 0.0)
    return out
