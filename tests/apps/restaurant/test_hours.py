"""Opening hours, local wall-clock hours around DST, and forecast range checks."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from foresight.apps.restaurant.hours import (
    OpeningHours,
    check_range,
    nonexistent,
)
from foresight.platform.errors import InvalidInput

NEW_YORK = ZoneInfo("America/New_York")
SPRING = date(2015, 3, 8)  # 02:00 → 03:00 in New York
AUTUMN = date(2015, 11, 1)  # 02:00 → 01:00 in New York
CHRISTMAS = date(2015, 12, 25)  # a Friday


def hourly(start: str, hours: int) -> np.ndarray:
    return pd.date_range(start, periods=hours, freq="h").to_numpy()


@pytest.mark.parametrize(
    "text",
    [
        "mon-sun 11:00-23:00",
        "mon-fri 11:00-23:00; sat-sun 12:00-24:00",
        "tue 17:00-22:00",
        "mon 11:00-14:00,17:00-22:00",
        "mon-thu 11:00-22:00; fri-sat 18:00-02:00; sun 00:00-24:00",
        "mon 09:30-10:15; wed 11:00-23:00; fri 11:00-23:00",
    ],
)
def test_canonical_text_round_trips_through_parse_and_describe(text: str) -> None:
    hours = OpeningHours.parse(text, closed_dates=[CHRISTMAS])

    assert hours.describe() == text
    assert OpeningHours.parse(hours.describe(), closed_dates=[CHRISTMAS]) == hours


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Mon-Sun 11:00-23:00 ;", "mon-sun 11:00-23:00"),
        ("mon,tue,wed-fri 9:00-17:00; sat-sun 9:00-17:00", "mon-sun 09:00-17:00"),
        ("fri-mon 18:00-00:00", "mon 18:00-24:00; fri-sun 18:00-24:00"),
        ("mon 17:00-22:00, 11:00-14:00", "mon 11:00-14:00,17:00-22:00"),
    ],
)
def test_other_spellings_describe_in_the_canonical_form(text: str, canonical: str) -> None:
    assert OpeningHours.parse(text).describe() == canonical


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no opening hours given"),
        ("mon-sun 11-23", "cannot read the time span '11-23'"),
        ("monday 11:00-23:00", "cannot read"),
        ("mon-xyz 11:00-23:00", "unknown day 'xyz'"),
        ("mon 25:00-26:00", "not a time of day"),
        ("mon 11:00-11:00", "is empty"),
        ("mon 11:00-15:00,14:00-22:00", "overlap"),
        ("mon-fri 11:00-23:00; fri 12:00-14:00", "fri is given twice"),
    ],
)
def test_bad_text_is_refused_showing_the_accepted_form(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        OpeningHours.parse(text, field="opening_hours")

    assert problem in caught.value.message
    assert "'mon-sun 11:00-23:00'" in caught.value.message
    assert caught.value.details[0]["field"] == "opening_hours"


def test_open_from_the_start_up_to_but_not_at_the_end() -> None:
    hours = OpeningHours.parse("mon-sun 11:00-23:00")

    assert not hours.is_open(datetime(2015, 12, 1, 10, 59))
    assert hours.is_open(datetime(2015, 12, 1, 11, 0))
    assert hours.is_open(datetime(2015, 12, 1, 22, 59, 59))
    assert not hours.is_open(datetime(2015, 12, 1, 23, 0))


def test_a_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    hours = OpeningHours.parse("fri-sat 18:00-02:00")

    assert hours.is_open(datetime(2015, 12, 5, 1, 30))  # Saturday, Friday's night
    assert hours.is_open(datetime(2015, 12, 6, 1, 30))  # Sunday, Saturday's night
    assert not hours.is_open(datetime(2015, 12, 7, 1, 30))  # Monday: Sunday is closed
    assert not hours.is_open(datetime(2015, 12, 4, 1, 30))  # Friday: Thursday is closed


def test_a_slot_is_open_when_any_part_of_it_is() -> None:
    hours = OpeningHours.parse("mon-sun 11:30-23:00")

    assert hours.slot_open(datetime(2015, 12, 1, 11), 1)
    assert hours.slot_open(datetime(2015, 12, 1, 22), 1)
    assert not hours.slot_open(datetime(2015, 12, 1, 23), 1)
    assert not hours.slot_open(datetime(2015, 12, 1, 11), 0.5)
    assert hours.slot_open(datetime(2015, 12, 1, 23), 13)  # reaches the next day's 11:30


def test_hourly_mask_closes_hours_outside_spans_and_closed_dates() -> None:
    hours = OpeningHours.parse("mon-sun 11:00-23:00", closed_dates=[CHRISTMAS])
    week = hourly("2015-12-21", 24 * 7)  # Monday to Sunday

    closed = hours.closed_mask(week, freq="h").reshape(7, 24)

    open_day = np.array([h < 11 or h >= 23 for h in range(24)])
    for day in (0, 1, 2, 3, 5, 6):
        np.testing.assert_array_equal(closed[day], open_day)
    assert closed[4].all()  # Christmas


def test_a_closed_date_also_closes_its_own_night_past_midnight() -> None:
    hours = OpeningHours.parse("fri-sat 18:00-02:00", closed_dates=[CHRISTMAS])
    saturday = hourly("2015-12-26", 24)
    sunday = hourly("2015-12-27", 24)

    assert hours.closed_mask(saturday, freq="h")[:2].all()
    assert not hours.closed_mask(sunday, freq="h")[:2].any()
    assert hours.closed_reason(datetime(2015, 12, 26, 1)) == (
        "closed on 2015-12-25, whose opening runs past midnight"
    )


def test_daily_mask_closes_days_without_an_open_hour_and_closed_dates() -> None:
    hours = OpeningHours.parse("mon-fri 11:00-23:00; sat 20:00-01:00", closed_dates=[CHRISTMAS])
    days = pd.date_range("2015-12-21", periods=8, freq="D").to_numpy()

    closed = hours.closed_mask(days, freq="D")

    # Mon–Thu open, Fri closed date, Sat open, Sun open for Saturday's last hour, Mon open.
    np.testing.assert_array_equal(closed, [False] * 4 + [True] + [False] * 3)
    sunday_only = OpeningHours.parse("sun 12:00-20:00")
    assert sunday_only.closed_mask(days, freq="D").tolist() == [True] * 6 + [False, True]


def test_closed_reason_names_the_time_and_the_hours_or_the_date() -> None:
    hours = OpeningHours.parse("mon-sun 11:00-23:00", closed_dates=[CHRISTMAS])

    assert hours.closed_reason(datetime(2015, 12, 22, 3, 0)) == (
        "closed at 03:00 on Tue (opening hours mon-sun 11:00-23:00)"
    )
    assert hours.closed_reason(datetime(2015, 12, 25, 12, 0)) == "closed on 2015-12-25"
    assert hours.closed_reason(datetime(2015, 12, 22, 12, 0)) is None


def test_with_a_time_zone_the_missing_spring_hour_is_closed() -> None:
    hours = OpeningHours.parse("mon-sun 00:00-24:00", tz=NEW_YORK)
    spring_day = hourly(str(SPRING), 24)
    autumn_day = hourly(str(AUTUMN), 24)

    assert nonexistent(spring_day, NEW_YORK).nonzero()[0].tolist() == [2]
    assert hours.closed_mask(spring_day, freq="h").nonzero()[0].tolist() == [2]
    assert not hours.closed_mask(autumn_day, freq="h").any()
    assert not hours.closed_mask(np.array([SPRING], "datetime64[D]"), freq="D").any()
    assert not hours.is_open(datetime(2015, 3, 8, 2, 30))
    assert "does not exist" in str(hours.closed_reason(datetime(2015, 3, 8, 2, 30)))
    assert OpeningHours.parse("mon-sun 00:00-24:00").is_open(datetime(2015, 3, 8, 2, 30))


HOURLY = {
    "granularity": "hour",
    "first_allowed": datetime(2016, 1, 1, 0),
    "last_allowed": datetime(2016, 1, 7, 23),
    "horizon_text": "7 days after the data, which ends 2015-12-31",
    "alternative": "granularity=day (28 days)",
}
DAILY = {
    "granularity": "day",
    "first_allowed": date(2016, 1, 1),
    "last_allowed": date(2016, 1, 28),
    "horizon_text": "28 days after the data, which ends 2015-12-31",
}


def refusal(start: date | datetime, end: date | datetime, options: dict) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_range(start, end, **options)
    return caught.value


def test_a_reversed_range_names_end() -> None:
    error = refusal(date(2016, 1, 7), date(2016, 1, 1), DAILY)

    assert error.message == "end 2016-01-01 is before start 2016-01-07"
    assert error.details == [{"field": "end", "message": error.message}]
    within_an_hour = refusal(datetime(2016, 1, 2, 10, 30), datetime(2016, 1, 2, 10, 10), HOURLY)
    assert within_an_hour.message == "end 2016-01-02 10:10 is before start 2016-01-02 10:30"


def test_a_range_past_the_horizon_names_end_the_last_slot_and_the_horizon() -> None:
    error = refusal(datetime(2016, 1, 2, 12), datetime(2016, 1, 8, 0), HOURLY)

    assert error.details == [
        {
            "field": "end",
            "message": "hourly forecasts reach 2016-01-07 23:00 (7 days after the data, which "
            "ends 2015-12-31); ask for an earlier end, or granularity=day (28 days)",
        }
    ]
    daily = refusal(date(2016, 1, 2), date(2016, 1, 29), DAILY)
    assert daily.details[0]["message"] == (
        "daily forecasts reach 2016-01-28 (28 days after the data, which ends 2015-12-31); "
        "ask for an earlier end"
    )


def test_a_start_before_the_first_forecast_slot_names_start() -> None:
    error = refusal(date(2015, 12, 30), date(2016, 1, 3), DAILY)

    assert error.details == [
        {
            "field": "start",
            "message": "start 2015-12-30 is before the first forecast day, 2016-01-01; "
            "ask for a later start",
        }
    ]
    both = refusal(datetime(2015, 12, 31, 22), datetime(2016, 1, 9), HOURLY)
    assert [d["field"] for d in both.details] == ["start", "end"]


def test_ranges_inside_the_horizon_pass_and_a_date_end_means_its_last_hour() -> None:
    check_range(date(2016, 1, 1), date(2016, 1, 7), **HOURLY)  # through 2016-01-07 23:00
    check_range(datetime(2016, 1, 7, 23, 30), datetime(2016, 1, 7, 23, 45), **HOURLY)
    check_range(date(2016, 1, 1), date(2016, 1, 28), **DAILY)
    assert refusal(date(2016, 1, 1), date(2016, 1, 8), HOURLY).details[0]["field"] == "end"


def test_the_scalar_is_open_agrees_with_the_vectorised_check() -> None:
    hours = OpeningHours.parse(
        "mon-thu 11:00-23:00; fri-sat 11:00-01:30; sun 12:00-22:00",
        closed_dates=[date(2015, 3, 6), date(2015, 11, 26)],
        tz=NEW_YORK,
    )
    rng = np.random.default_rng(0)
    # Random minutes of the year plus the DST changes and the closed days' edges.
    minutes = rng.integers(0, 365 * 24 * 60, 3000)
    stamps = np.datetime64("2015-01-01T00:00") + minutes.astype("timedelta64[m]")
    edges = np.array(
        [
            "2015-03-08T02:30", "2015-03-08T03:00", "2015-11-01T01:30", "2015-03-07T00:30",
            "2015-03-07T01:00", "2015-03-06T12:00", "2015-11-27T00:15",
        ],
        dtype="datetime64[m]",
    )  # fmt: skip
    stamps = np.concatenate([stamps, edges])
    vectorised = hours.open_slots(stamps, minutes=1)
    scalar = [hours.is_open(s.astype(datetime)) for s in stamps]
    assert vectorised.tolist() == scalar
    assert 0.2 < vectorised.mean() < 0.8
