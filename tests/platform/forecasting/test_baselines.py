"""The seasonal-naive path with intervals: the rule baseline apps serve without a model.
(Its docstring example runs in test_backtest.py, with the rest of the module's.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.platform.forecasting.baselines import seasonal_naive_path


def test_the_last_season_repeats_and_the_interval_widens_each_season() -> None:
    rng = np.random.default_rng(0)
    y = 50 + 10 * np.sin(2 * np.pi * np.arange(70) / 7) + rng.normal(0, 2, 70)
    point, lo, hi = seasonal_naive_path(y, 21, 80, season=7)
    np.testing.assert_array_equal(point, np.resize(y[-7:], 21))
    changes = y[7:] - y[:-7]
    lo_q, hi_q = np.quantile(changes, [0.1, 0.9])
    np.testing.assert_allclose(lo[:7], point[:7] + lo_q)
    np.testing.assert_allclose(hi[:7], point[:7] + hi_q)
    # Two and three seasons ahead: sqrt(2) and sqrt(3) times as wide.
    width = hi - lo
    np.testing.assert_allclose(width[7:14], width[:7] * np.sqrt(2))
    np.testing.assert_allclose(width[14:], width[:7] * np.sqrt(3))


def test_a_higher_level_gives_a_wider_interval_around_the_same_point() -> None:
    y = np.tile([5.0, 9, 12, 7], 10) + np.random.default_rng(1).normal(0, 1, 40)
    p80, lo80, hi80 = seasonal_naive_path(y, 8, 80, season=4)
    p95, lo95, hi95 = seasonal_naive_path(y, 8, 95, season=4)
    np.testing.assert_array_equal(p80, p95)
    assert (lo95 <= lo80).all() and (hi95 >= hi80).all() and (hi95 - lo95 > hi80 - lo80).all()


def test_a_pandas_series_works_like_its_values() -> None:
    y = np.arange(30.0) % 7
    series = pd.Series(y, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    for a, b in zip(
        seasonal_naive_path(series, 10, 80, season=7),
        seasonal_naive_path(y, 10, 80, season=7),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_short_and_empty_histories() -> None:
    point, lo, hi = seasonal_naive_path([4.0, 6.0, 5.0], 4, 80, season=7)
    assert point.tolist() == [5.0] * 4  # shorter than a season: the last value
    assert (lo <= point).all() and (hi >= point).all()
    assert np.diff(hi - lo).min() > 0  # step-to-step changes compound every step
    zeros = seasonal_naive_path([], 3, 80, season=7)
    assert all(part.tolist() == [0.0, 0.0, 0.0] for part in zeros)


def test_bounds_stay_non_negative_only_for_non_negative_history() -> None:
    counts = np.array([0.0, 10, 0, 30, 0, 10, 0, 0])
    low_change = np.quantile(counts[2:] - counts[:-2], 0.025)
    assert low_change < 0
    _, lo, _ = seasonal_naive_path(counts, 2, 95, season=2)
    assert lo.tolist() == [0.0, 0.0]  # counts: clipped at zero
    _, lo_signed, _ = seasonal_naive_path(counts - 5, 2, 95, season=2)
    assert lo_signed == pytest.approx(-5 + low_change)  # a signed series: not clipped


def test_trailing_mean_averages_the_last_observed_values() -> None:
    from foresight.platform.errors import InvalidInput
    from foresight.platform.forecasting.baselines import trailing_mean

    assert trailing_mean([5.0, 1.0, np.nan, 3.0], window=3, horizon=2).tolist() == [2.0, 2.0]
    assert trailing_mean([4.0], window=12, horizon=1).tolist() == [4.0]  # short history
    with pytest.raises(InvalidInput, match="no observed value"):
        trailing_mean([np.nan, np.nan], window=2, horizon=1)
    with pytest.raises(InvalidInput, match="window"):
        trailing_mean([1.0], window=0, horizon=1)
