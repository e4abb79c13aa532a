"""Top-down temporal reconciliation: hours scaled so each day adds up to the daily forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting.engine import ForecastConfig, ForecastResult, forecast
from foresight.platform.forecasting.series import validate
from foresight.platform.forecasting.temporal import reconcile_top_down

START = pd.Timestamp("2025-01-06")  # a Monday
SHAPE = np.r_[np.zeros(11), [2, 6, 5, 2, 1, 1, 2, 5, 8, 7, 4, 2], 0.0]  # open 11:00–23:00


def hourly_panel(days: int, levels: dict[str, float]) -> pd.DataFrame:
    stamps = pd.date_range(START, periods=days * 24, freq="h")
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": stamps, "y": np.tile(SHAPE, days) * level})
        for uid, level in levels.items()
    ]
    return pd.concat(frames, ignore_index=True)


def fit(frame: pd.DataFrame, freq: str, horizon: int) -> ForecastResult:
    config = ForecastConfig(horizon=horizon, members=("theta",), n_windows=1, n_jobs=1)
    return forecast(validate(frame, freq=freq), config)


@pytest.fixture(scope="module")
def forecasts() -> tuple[ForecastResult, ForecastResult]:
    hourly = hourly_panel(28, {"total": 1.0, "pizza": 0.5})
    daily = hourly.set_index("ds").groupby("unique_id")["y"].resample("D").sum().reset_index()
    # The daily model knows something the hourly one does not (say, a busier week ahead):
    # fake it by doubling the daily forecast of one series.
    fine = fit(hourly, "h", 24 * 3 + 5)  # three whole days and five hours of a fourth
    coarse = fit(daily, "D", 7)
    coarse.point[coarse.uids.index("total")] *= 2
    return fine, coarse


def test_each_whole_day_adds_up_to_the_coarse_forecast_and_keeps_its_shape(
    forecasts: tuple[ForecastResult, ForecastResult],
) -> None:
    fine, coarse = forecasts
    out = reconcile_top_down(fine, coarse, period="D", steps=24)
    for uid in fine.uids:
        row, c = fine.uids.index(uid), coarse.uids.index(uid)
        days = out.future[row].astype("datetime64[D]")
        for k, day in enumerate(np.unique(days)[:3]):
            mine = days == day
            assert out.point[row][mine].sum() == pytest.approx(coarse.point[c][k], rel=1e-9)
            ratio = out.point[row][mine] / np.where(
                fine.point[row][mine] == 0, 1, fine.point[row][mine]
            )
            shaped = fine.point[row][mine] > 0
            assert np.allclose(ratio[shaped], ratio[shaped][0])  # one factor per day
        partial = days == np.unique(days)[3]  # five hours of a day: not scaled
        np.testing.assert_array_equal(out.point[row][partial], fine.point[row][partial])
    assert "top-down" in out.notes["reconciled"]
    assert fine.point is not out.point  # the input is left as it was


def test_intervals_follow_the_point_and_closed_hours_stay_zero(
    forecasts: tuple[ForecastResult, ForecastResult],
) -> None:
    fine, coarse = forecasts
    out = reconcile_top_down(fine, coarse)
    lo, hi = out.bounds(80.0)
    assert (lo <= out.point + 1e-9).all() and (out.point <= hi + 1e-9).all()
    closed_hours = fine.point == 0
    assert (out.point[closed_hours] == 0).all()


def test_series_the_coarse_forecast_lacks_are_unchanged_and_bad_input_is_refused(
    forecasts: tuple[ForecastResult, ForecastResult],
) -> None:
    fine, coarse = forecasts
    only_total = fit(
        hourly_panel(28, {"total": 1.0})
        .set_index("ds")
        .resample("D")["y"]
        .sum()
        .reset_index()
        .assign(unique_id="total"),
        "D",
        7,
    )
    out = reconcile_top_down(fine, only_total)
    row = fine.uids.index("pizza")
    np.testing.assert_array_equal(out.point[row], fine.point[row])
    with pytest.raises(InvalidInput, match="steps"):
        reconcile_top_down(fine, coarse, steps=0)
