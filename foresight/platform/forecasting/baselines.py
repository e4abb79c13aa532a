"""Seasonal naive: each future step repeats the value one season earlier (the baseline).

:class:`SeasonalNaive` forecasts a whole :class:`SeriesFrame`; :func:`seasonal_naive_path`
is the rule baseline apps serve when no trained model can answer, with an interval.

>>> import pandas as pd
>>> from foresight.platform.forecasting.series import validate
>>> data = pd.DataFrame({"unique_id": "a", "ds": range(1, 9), "y": [1., 2, 3, 4, 1, 2, 3, 4]})
>>> SeasonalNaive().fit(validate(data, season_length=4)).predict(3)["y_hat"].tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from foresight.platform.errors import InvalidInput
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


def seasonal_naive_path(
    history: npt.ArrayLike, horizon: int, level: float, *, season: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last season repeated, with an interval from the empirical quantiles of
    season-on-season changes: (point, lower, upper), ``horizon`` values each.

    A change k seasons ahead compounds about like a random walk, so the interval widens
    with the square root of the number of seasons ahead. A history shorter than a season
    repeats its last value (changes from step to step); an empty one gives zeros. A
    history with no negative value gets non-negative forecasts and bounds.

    >>> point, lo, hi = seasonal_naive_path([3.0, 5, 4, 5, 4, 5, 4, 5, 3], 4, 80, season=3)
    >>> point.tolist(), lo.round(2).tolist(), hi.round(2).tolist()
    ([4.0, 5.0, 3.0, 4.0], [2.5, 3.5, 1.5, 1.88], [5.5, 6.5, 4.5, 6.12])
    """
    y = np.asarray(history, dtype=float).ravel()
    if len(y) == 0:
        zeros = np.zeros(horizon)
        return zeros, zeros, zeros
    m = season if len(y) >= season else 1
    point = np.resize(y[-m:], horizon)
    changes = y[m:] - y[:-m] if len(y) > m else np.zeros(1)
    alpha = (1 - level / 100) / 2
    lo_q, hi_q = np.quantile(changes, [alpha, 1 - alpha])
    growth = np.sqrt(np.arange(horizon) // m + 1)
    lo, hi = point + lo_q * growth, point + hi_q * growth
    if y.min() >= 0:
        lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    return point, lo, hi


def trailing_mean(y: npt.ArrayLike, *, window: int, horizon: int) -> npt.NDArray[np.float64]:
    """The mean of the last ``window`` observed values, repeated ``horizon`` times: the
    baseline a short-horizon demand forecast must beat (missing values are skipped).

    >>> trailing_mean([1.0, 2.0, 3.0, 4.0], window=2, horizon=3).tolist()
    [3.5, 3.5, 3.5]
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InvalidInput(f"window must be a positive integer, got {window!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise InvalidInput(f"horizon must be a positive integer, got {horizon!r}")
    values = np.asarray(y, dtype=np.float64).reshape(-1)[-window:]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InvalidInput(f"no observed value in the last {window} to average")
    return np.full(horizon, float(values.mean()))
