"""The schedule language: parsing, canonical text, and the next due moment in UTC."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta, timezone

import pytest

from foresight.platform import schedules
from foresight.platform.errors import InvalidInput
from foresight.platform.schedules import Schedule


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("hourly", "hourly"),
        ("daily", "daily 00:00"),
        ("daily 03:00", "daily 03:00"),
        ("  DAILY   3:07 ", "daily 03:07"),
        ("weekly", "weekly mon 00:00"),
        ("weekly sun", "weekly sun 00:00"),
        ("weekly Friday 23:59", "weekly fri 23:59"),
        ("monthly", "monthly 1 00:00"),
        ("monthly 15", "monthly 15 00:00"),
        ("Monthly 28 4:30", "monthly 28 04:30"),
        ("monthly 06:00", "monthly 1 06:00"),
        ("monthly 01 23:59", "monthly 1 23:59"),
        ("every 45s", "every 45s"),
        ("every 90m", "every 90m"),
        ("every 120m", "every 2h"),
        ("every 48h", "every 2d"),
        ("every 6 h", "every 6h"),
        ("every 1d", "every 1d"),
        ("off", "off"),
        ("", "off"),
        ("   ", "off"),
    ],
)
def test_parse_gives_canonical_text(text: str, canonical: str) -> None:
    schedule = Schedule.parse(text)
    assert str(schedule) == canonical
    assert Schedule.parse(canonical) == schedule


def test_none_is_off() -> None:
    assert Schedule.parse(None).is_off
    assert not Schedule.parse("hourly").is_off


@pytest.mark.parametrize(
    "text",
    [
        "daily 24:00",
        "daily 12:60",
        "daily 3",
        "daily 03:00 extra",
        "weekly someday",
        "weekly mon 25:00",
        "every",
        "every 0h",
        "every 5",
        "every 5w",
        "every -5m",
        "monthly 29",
        "monthly 31",
        "monthly 0",
        "monthly -1",
        "monthly 1st",
        "monthly 15 24:00",
        "monthly 15 03:00 extra",
        "monthly mon",
        "hourly 10",
        "cron * * * * *",
    ],
)
def test_bad_text_raises_invalid_input_listing_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Schedule.parse(text)
    message = caught.value.message
    assert message.startswith(f"invalid schedule {text!r}; accepted schedules:")
    forms = (
        '"hourly"',
        '"daily HH:MM"',
        '"weekly <mon|tue|',
        '"monthly [D] [HH:MM]" (day D 1-28',
        '"every <N><s|m|h|d>"',
        '"off"',
    )
    for form in forms:
        assert form in message
    assert caught.value.details == {"schedule": text}


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        # hourly: the next top of the hour, strictly after
        ("hourly", at(2026, 1, 5, 10, 0), at(2026, 1, 5, 11, 0)),
        ("hourly", at(2026, 1, 5, 10, 59, 59), at(2026, 1, 5, 11, 0)),
        ("hourly", at(2026, 12, 31, 23, 30), at(2027, 1, 1, 0, 0)),
        # daily: today if still ahead, else tomorrow; month and year ends roll over
        ("daily 03:00", at(2026, 1, 5, 2, 59), at(2026, 1, 5, 3, 0)),
        ("daily 03:00", at(2026, 1, 5, 3, 0), at(2026, 1, 6, 3, 0)),
        ("daily 03:00", at(2026, 1, 31, 4, 0), at(2026, 2, 1, 3, 0)),
        ("daily", at(2026, 2, 28, 0, 0, 1), at(2026, 3, 1, 0, 0)),
        ("daily", at(2028, 2, 28, 12, 0), at(2028, 2, 29, 0, 0)),  # leap year
        ("daily 23:59", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 23, 59)),
        # weekly: Monday 00:00 by default; 2026-03-01 is a Sunday, 2026-01-05 a Monday
        ("weekly", at(2026, 3, 1, 12, 0), at(2026, 3, 2, 0, 0)),
        ("weekly", at(2026, 1, 5, 0, 0), at(2026, 1, 12, 0, 0)),
        ("weekly", at(2026, 1, 4, 23, 59, 59), at(2026, 1, 5, 0, 0)),
        ("weekly sun 18:30", at(2026, 1, 5, 9, 0), at(2026, 1, 11, 18, 30)),
        ("weekly sun 18:30", at(2026, 1, 11, 18, 29), at(2026, 1, 11, 18, 30)),
        ("weekly sun 18:30", at(2026, 1, 11, 18, 30), at(2026, 1, 18, 18, 30)),
        ("weekly wed 06:00", at(2026, 12, 31, 7, 0), at(2027, 1, 6, 6, 0)),  # a Thursday
        # monthly: this month's slot if still ahead, else next month's (D <= 28 exists)
        ("monthly", at(2026, 1, 31, 4, 0), at(2026, 2, 1, 0, 0)),
        ("monthly", at(2026, 1, 1, 0, 0), at(2026, 2, 1, 0, 0)),
        ("monthly", at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1, 0, 0)),
        ("monthly 15 04:30", at(2026, 3, 15, 4, 29), at(2026, 3, 15, 4, 30)),
        ("monthly 15 04:30", at(2026, 3, 15, 4, 30), at(2026, 4, 15, 4, 30)),
        ("monthly 15 04:30", at(2026, 3, 2, 12, 0), at(2026, 3, 15, 4, 30)),
        ("monthly 28 23:00", at(2026, 2, 28, 23, 0), at(2026, 3, 28, 23, 0)),
        ("monthly 28", at(2026, 12, 28, 0, 0, 0, 1), at(2027, 1, 28, 0, 0)),
        ("monthly 3 06:00", at(2026, 11, 20, 6, 0), at(2026, 12, 3, 6, 0)),
        # every: a fixed interval from the moment given (the previous run's finish)
        ("every 90m", at(2026, 1, 31, 23, 0), at(2026, 2, 1, 0, 30)),
        ("every 45s", at(2026, 1, 5, 10, 0, 30), at(2026, 1, 5, 10, 1, 15)),
        ("every 2d", at(2026, 2, 27, 8, 15), at(2026, 3, 1, 8, 15)),
    ],
)
def test_next_after(text: str, after: datetime, expected: datetime) -> None:
    got = Schedule.parse(text).next_after(after)
    assert got == expected
    assert got.tzinfo == UTC


def test_next_after_converts_other_zones_to_utc() -> None:
    tokyo = datetime(2026, 1, 5, 11, 0, tzinfo=timezone(timedelta(hours=9)))  # 02:00 UTC
    got = Schedule.parse("daily 03:00").next_after(tokyo)
    assert got == at(2026, 1, 5, 3, 0)
    assert got.utcoffset() == timedelta(0)


def test_next_after_drops_seconds_on_calendar_forms() -> None:
    assert Schedule.parse("daily 03:00").next_after(at(2026, 1, 5, 3, 0, 0, 1)) == at(
        2026, 1, 6, 3, 0
    )


def test_monthly_is_computed_in_utc() -> None:
    # 23:30 on Jan 31 in New York is already Feb 1 in UTC: February's slot has passed.
    new_york = datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert Schedule.parse("monthly 1 01:00").next_after(new_york) == at(2026, 3, 1, 1, 0)


def test_monthly_29_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(InvalidInput, match=r"'monthly 29'; accepted schedules: .*day D 1-28"):
        Schedule.parse("monthly 29")


def test_module_examples_run() -> None:
    assert doctest.testmod(schedules).failed == 0


def test_off_is_never_due() -> None:
    assert Schedule.parse("off").next_after(at(2026, 1, 5)) == datetime.max.replace(tzinfo=UTC)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule.parse("hourly").next_after(datetime(2026, 1, 5, 10, 0))
