"""Seasonal naive baseline and rolling-origin backtests."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from foresight.platform.forecasting import backtest, baselines
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


def test_windows_never_leak_and_end_at_the_last_steps() -> None:
    series = validate(
        pd.concat([periodic(40, "long"), periodic(30, "short"), periodic(18, "tiny")])
    )
    wins = list(backtest.windows(series, horizon=6, n_windows=3))
    assert [w.index for w in wins] == [0, 1, 2]
    for w in wins:
        last_train = w.train.data.groupby("unique_id")["ds"].max()
        first_test = w.test.groupby("unique_id")["ds"].min()
        assert (last_train < first_test.reindex(last_train.index)).all()
        assert (w.test.groupby("unique_id").size() == 6).all()
    final = wins[-1].test.groupby("unique_id")["ds"].max()
    assert final["long"] == series.data[series.data.unique_id == "long"]["ds"].max()
    # "tiny" has 18 points: only the last window leaves it a full season (12) to train on.
    assert "tiny" not in set(wins[0].test["unique_id"]) and "tiny" in set(wins[2].test["unique_id"])


def test_backtest_scores_each_series_and_window() -> None:
    series = validate(pd.concat([periodic(48, "flat"), periodic(48, "trend", trend=0.5)]))
    scores = backtest.backtest(baselines.SeasonalNaive, series, horizon=6, n_windows=2)
    assert len(scores) == 4 and set(scores["window"]) == {0, 1}
    flat = scores[scores.unique_id == "flat"]
    assert (flat["mae"] == 0).all() and (flat["smape"] == 0).all()
    trend = scores[scores.unique_id == "trend"]
    # A season later the trend has added 12 * 0.5 = 6: the naive error, and MASE = 1.
    np.testing.assert_allclose(trend["mae"], 6.0)
    np.testing.assert_allclose(trend["mase"], 1.0)
    summary = backtest.summarise(scores)
    assert summary["mae"] == pytest.approx(3.0)


def test_backtest_rejects_a_model_that_skips_steps() -> None:
    class Lazy:
        def fit(self, series):
            return self

        def predict(self, horizon):
            return pd.DataFrame({"unique_id": [], "ds": [], "y_hat": []})

    with pytest.raises(ValueError, match="every test step"):
        backtest.backtest(Lazy, validate(periodic(30)), horizon=3, n_windows=1)
