"""Seasonal naive baseline and the engine's rolling-origin backtest."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd

from foresight.platform.forecasting import baselines
from foresight.platform.forecasting.engine import ForecastConfig, forecast
from foresight.platform.forecasting.series import validate


def periodic(length: int = 36, uid: str = "a", trend: float = 0.0) -> pd.DataFrame:
    pattern = np.array([5.0, 1, 3, 9, 4, 2, 8, 6, 7, 3, 2, 1])
    y = np.resize(pattern, length) + trend * np.arange(length)
    ds = pd.date_range("2019-01-01", periods=length, freq="MS")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": y})


def test_docstring_example_runs() -> None:
    assert doctest.testmod(baselines).failed == 0


def test_seasonal_naive_repeats_the_last_season_on_future_dates() -> None:
    series = validate(periodic(30))
    forecast = baselines.SeasonalNaive().fit(series).predict(14)
    assert list(forecast["ds"][:2]) == [pd.Timestamp("2021-07-01"), pd.Timestamp("2021-08-01")]
    expected = np.resize(series.data["y"].to_numpy()[-12:], 14)
    np.testing.assert_array_equal(forecast["y_hat"].to_numpy(), expected)


def test_short_series_repeat_their_last_value_and_integer_index_counts_on() -> None:
    data = pd.DataFrame({"unique_id": "s", "ds": [7, 8, 9], "y": [1.0, 2.0, 5.0]})
    forecast = baselines.SeasonalNaive().fit(validate(data, season_length=12)).predict(2)
    assert forecast["ds"].tolist() == [10, 11] and forecast["y_hat"].tolist() == [5.0, 5.0]


def test_engine_backtest_cuts_each_series_before_its_test_part() -> None:
    """Seasonal naive on a trend of 0.5 per month errs by exactly 12 * 0.5 = 6 (MASE 1)
    only if every window's forecast is made from data before that window's test part."""
    data = pd.concat([periodic(60, "flat"), periodic(60, "trend", trend=0.5)])
    result = forecast(validate(data), ForecastConfig(horizon=6, n_windows=2, n_jobs=1))
    naive = result.backtest[result.backtest["model"] == "seasonal_naive"]
    assert len(naive) == 4 and set(naive["window"]) == {0, 1}
    flat = naive[naive["unique_id"] == "flat"]
    assert (flat["mae"] == 0).all() and (flat["smape"] == 0).all()
    trend = naive[naive["unique_id"] == "trend"]
    np.testing.assert_allclose(trend["mae"], 6.0)
    np.testing.assert_allclose(trend["mase"], 1.0)
