"""Seasonal naive: each future step repeats the value one season earlier (the baseline).

>>> import pandas as pd
>>> from foresight.platform.forecasting.series import validate
>>> data = pd.DataFrame({"unique_id": "a", "ds": range(1, 9), "y": [1., 2, 3, 4, 1, 2, 3, 4]})
>>> SeasonalNaive().fit(validate(data, season_length=4)).predict(3)["y_hat"].tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.forecasting.local import seasonal_naive
from foresight.platform.forecasting.series import SeriesFrame


def future_ds(last: Any, horizon: int, freq: str | None) -> pd.Index:
    """The ``horizon`` time stamps after ``last`` (dates on ``freq``, or integers)."""
    if freq is None:
        return pd.Index(list(range(int(last) + 1, int(last) + 1 + horizon)))
    return pd.date_range(pd.Timestamp(last), periods=horizon + 1, freq=freq)[1:]


class SeasonalNaive:
    """Repeats the last observed season; series shorter than a season repeat their last value."""

    def __init__(self, season_length: int | None = None) -> None:
        self.season_length = season_length

    def fit(self, series: SeriesFrame) -> SeasonalNaive:
        m = self.season_length or series.season_length
        self.freq_ = series.freq
        self.tails_: dict[str, tuple[np.ndarray, object]] = {}
        for uid, group in series.data.groupby("unique_id", sort=False):
            y = group["y"].to_numpy()
            self.tails_[str(uid)] = (y[-m:] if len(y) >= m else y[-1:], group["ds"].iloc[-1])
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        """One row per series and step: ``unique_id``, ``ds``, ``y_hat``."""
        frames = []
        for uid, (tail, last) in self.tails_.items():
            frames.append(
                pd.DataFrame(
                    {
                        "unique_id": uid,
                        "ds": future_ds(last, horizon, self.freq_),
                        "y_hat": seasonal_naive(tail, horizon, len(tail)),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)
