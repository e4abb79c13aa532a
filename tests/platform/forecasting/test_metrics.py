"""Accuracy metrics against hand-computed values."""

from __future__ import annotations

import doctest
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


def test_doctest_example_runs() -> None:
    assert doctest.testmod(metrics).failed == 0


def test_a_mask_scores_open_steps_only() -> None:
    y = np.array([10.0, 0.0, 20.0, 0.0])
    y_hat = np.array([12.0, 4.0, 18.0, 1.0])
    shut = np.array([False, True, False, True])
    assert metrics.mae(y, y_hat, mask=~shut) == 2.0
    assert metrics.rmse(y, y_hat, mask=~shut) == 2.0
    assert math.isclose(metrics.smape(y, y_hat, mask=~shut), 200 * (2 / 22 + 2 / 38) / 2)
    rows = metrics.smape_rows(np.stack([y, y]), np.stack([y_hat, y]), mask=~shut)
    assert math.isclose(rows[0], metrics.smape(y, y_hat, mask=~shut)) and rows[1] == 0.0
    assert math.isnan(metrics.smape_rows(y, y_hat, mask=np.zeros(4, dtype=bool)))
    # Without a mask, nothing changes: the closed steps count.
    assert metrics.mae(y, y_hat) == (2 + 4 + 2 + 1) / 4


def test_the_mase_scale_with_a_mask_uses_differences_between_open_steps() -> None:
    # Open on even steps; one open day (step 4) is closed as well, leaving zero there.
    train = np.array([10.0, 0, 14, 0, 0, 0, 12, 0, 16, 0])
    open_steps = np.array([True, False, True, False, False, False, True, False, True, False])
    # Lag-2 pairs between two open steps: (10, 14) and (12, 16); the rest touch a closure.
    assert metrics.mase_scale(train, 2, mask=open_steps) == 4.0
    assert metrics.mase_scale(train, 2) == (4 + 14 + 12 + 4) / 8  # zeros count too
    y, y_hat = np.array([11.0, 0.0]), np.array([13.0, 9.0])
    scores = metrics.all_metrics(
        y, y_hat, train, 2, mask=np.array([True, False]), train_mask=open_steps
    )
    assert scores["mase"] == 0.5 and scores["mae"] == 2.0
