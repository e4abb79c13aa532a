"""Accuracy metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np

from foresight.platform.forecasting import metrics


def test_point_metrics_by_hand() -> None:
    y = np.array([10.0, 20.0, 30.0])
    y_hat = np.array([12.0, 18.0, 33.0])
    assert metrics.mae(y, y_hat) == (2 + 2 + 3) / 3
    assert math.isclose(metrics.rmse(y, y_hat), math.sqrt((4 + 4 + 9) / 3))
    assert math.isclose(metrics.mape(y, y_hat), 100 * (0.2 + 0.1 + 0.1) / 3)
    expected = 200 * (2 / 22 + 2 / 38 + 3 / 63) / 3
    assert math.isclose(metrics.smape(y, y_hat), expected)


def test_smape_and_mape_edge_cases() -> None:
    zeros = np.zeros(3)
    assert metrics.smape(zeros, zeros) == 0.0  # 0/0 counts as a perfect forecast
    assert math.isnan(metrics.mape(zeros, np.ones(3)))
    assert metrics.smape(np.array([1.0]), np.array([-1.0])) == 200.0  # the maximum


def test_mase_uses_the_seasonal_naive_scale() -> None:
    season = np.tile([1.0, 5.0, 3.0, 7.0], 3)  # perfectly seasonal, m = 4
    train = season + np.arange(12)  # plus a trend: seasonal differences are all 4
    assert metrics.mase_scale(train, 4) == 4.0
    y = np.array([20.0, 25.0])
    assert metrics.mase(y, y + 2.0, train, 4) == 0.5
    assert metrics.mase_scale(np.array([1.0, 3.0, 6.0]), 12) == 2.5  # too short: lag 1
    assert math.isnan(metrics.mase(y, y, np.full(8, 5.0), 4))  # a flat history has no scale
    assert set(metrics.all_metrics(y, y, train, 4)) == {"mae", "rmse", "mape", "smape", "mase"}
