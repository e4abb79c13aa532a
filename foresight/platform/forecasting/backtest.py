"""Rolling-origin backtests: refit at several cut-offs, score the next ``horizon`` steps.

Each window cuts every series at its own position counted from the end, so series of
different lengths are all tested on their latest data. Training data of a window never
contains a time stamp at or after that window's first test step (no leakage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.forecasting import metrics
from foresight.platform.forecasting.series import SeriesFrame


@dataclass(frozen=True)
class Window:
    index: int
    train: SeriesFrame
    test: pd.DataFrame  # unique_id, ds, y


def windows(
    series: SeriesFrame, *, horizon: int, n_windows: int = 3, step: int | None = None
) -> Iterator[Window]:
    """Window 0 is the oldest cut-off; the last window tests each series' final steps."""
    step = step or horizon
    data = series.data
    position = data.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
    for k in range(n_windows):
        back = (n_windows - 1 - k) * step  # steps held back after this window's test part
        in_test = (position >= back) & (position < back + horizon)
        in_train = position >= back + horizon
        # A series needs at least one full season (or two points) to be worth testing.
        train_len = data.loc[in_train].groupby("unique_id", sort=False).size()
        usable = train_len[train_len >= max(2, series.season_length)].index
        keep = data["unique_id"].isin(usable).to_numpy()
        train = data.loc[in_train & keep].reset_index(drop=True)
        test = data.loc[in_test & keep, ["unique_id", "ds", "y"]].reset_index(drop=True)
        if len(test):
            yield Window(k, replace(series, data=train), test)


Model = Any  # anything with fit(SeriesFrame) -> self and predict(horizon) -> DataFrame


def backtest(
    make_model: Callable[[], Model],
    series: SeriesFrame,
    *,
    horizon: int,
    n_windows: int = 3,
    step: int | None = None,
) -> pd.DataFrame:
    """Metrics per series and window for a fresh model fitted at each cut-off."""
    rows = []
    for window in windows(series, horizon=horizon, n_windows=n_windows, step=step):
        forecast = make_model().fit(window.train).predict(horizon)
        joined = window.test.merge(forecast, on=["unique_id", "ds"], how="left")
        if joined["y_hat"].isna().any():
            raise ValueError("the model did not forecast every test step")
        history = window.train.data.groupby("unique_id", sort=False)["y"]
        for uid, part in joined.groupby("unique_id", sort=False):
            y_train = history.get_group(uid).to_numpy()
            scores = metrics.all_metrics(
                part["y"].to_numpy(), part["y_hat"].to_numpy(), y_train, series.season_length
            )
            rows.append({"unique_id": uid, "window": window.index, **scores})
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame) -> dict[str, float]:
    """Mean of each metric over series and windows (NaN-aware: MASE of flat series)."""
    return {m: float(np.nanmean(scores[m])) for m in ("mae", "rmse", "mape", "smape", "mase")}
