"""When a task is due: a small schedule language, parsed once, evaluated in UTC.

Calendar forms name a slot on the clock; ``next_after`` returns the first slot strictly
after the given moment, so a run that overran its slot never runs twice for it.
``every`` forms are measured from the moment given (the scheduler passes the previous
run's finish), so runs never overlap however long they take.

>>> from datetime import datetime, UTC
>>> Schedule.parse("daily 03:00").next_after(datetime(2026, 1, 31, 4, 0, tzinfo=UTC))
datetime.datetime(2026, 2, 1, 3, 0, tzinfo=datetime.timezone.utc)
>>> Schedule.parse("Weekly").next_after(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # a Sunday
datetime.datetime(2026, 3, 2, 0, 0, tzinfo=datetime.timezone.utc)
>>> Schedule.parse("every 90m").next_after(datetime(2026, 1, 1, 23, 0, tzinfo=UTC))
datetime.datetime(2026, 1, 2, 0, 30, tzinfo=datetime.timezone.utc)
>>> Schedule.parse("monthly").next_after(datetime(2026, 1, 31, 4, 0, tzinfo=UTC))
datetime.datetime(2026, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
>>> str(Schedule.parse(" weekly FRIDAY 7:05 ")), str(Schedule.parse("every 120m"))
('weekly fri 07:05', 'every 2h')
>>> str(Schedule.parse("Monthly 15 4:30")), str(Schedule.parse("monthly 06:00"))
('monthly 15 04:30', 'monthly 1 06:00')
>>> Schedule.parse("").is_off
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from foresight.platform.errors import InvalidInput

Kind = Literal["off", "hourly", "daily", "weekly", "monthly", "every"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}  # largest first: the canonical unit
LAST_MONTH_DAY = 28  # every month has it, so a monthly slot never skips February

ACCEPTED = (
    'accepted schedules: "hourly", "daily", "daily HH:MM", "weekly" (Monday 00:00), '
    '"weekly <mon|tue|wed|thu|fri|sat|sun> [HH:MM]", "monthly [D] [HH:MM]" (day D 1-28, '
    'default the 1st), "every <N><s|m|h|d>" (e.g. "every 6h"), "off" or empty (never due); '
    "times are UTC"
)

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_EVERY = re.compile(r"^(\d+)([smhd])$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; build it with :meth:`parse`, print it back with ``str()``."""

    kind: Kind
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # Monday is 0, as in datetime.weekday()
    day: int = 1  # the day of the month of a ``monthly`` schedule
    seconds: int = 0  # the interval of an ``every`` schedule

    @classmethod
    def parse(cls, text: str | None) -> Schedule:
        """Parse ``text`` (case and spacing are free); raises InvalidInput naming the forms."""
        words = (text or "").strip().lower().split()
        try:
            return cls._from_words(words)
        except ValueError:
            raise InvalidInput(
                f"invalid schedule {text!r}; {ACCEPTED}", details={"schedule": text}
            ) from None

    @classmethod
    def _from_words(cls, words: list[str]) -> Schedule:
        match words:
            case [] | ["off"]:
                return cls("off")
            case ["hourly"]:
                return cls("hourly")
            case ["daily"]:
                return cls("daily")
            case ["daily", clock]:
                return cls("daily", *_hour_minute(clock))
            case ["weekly"]:
                return cls("weekly")
            case ["weekly", day]:
                return cls("weekly", weekday=_weekday(day))
            case ["weekly", day, clock]:
                hour, minute = _hour_minute(clock)
                return cls("weekly", hour, minute, weekday=_weekday(day))
            case ["monthly"]:
                return cls("monthly")
            case ["monthly", clock] if ":" in clock:  # "monthly 06:00": the 1st
                return cls("monthly", *_hour_minute(clock))
            case ["monthly", day]:
                return cls("monthly", day=_month_day(day))
            case ["monthly", day, clock]:
                return cls("monthly", *_hour_minute(clock), day=_month_day(day))
            case ["every", interval]:
                return cls("every", seconds=_interval(interval))
            case ["every", number, unit]:  # "every 6 h"
                return cls("every", seconds=_interval(number + unit))
        raise ValueError(words)

    @property
    def is_off(self) -> bool:
        """True when the schedule never makes its task due (manual runs only)."""
        return self.kind == "off"

    def next_after(self, dt: datetime) -> datetime:
        """The first due moment strictly after ``dt`` (aware, returned in UTC).

        An ``off`` schedule has none: it answers ``datetime.max`` in UTC, so a caller that
        compares without checking :attr:`is_off` still never runs the task.
        """
        if dt.tzinfo is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        dt = dt.astimezone(UTC)
        if self.kind == "off":
            return datetime.max.replace(tzinfo=UTC)
        if self.kind == "every":
            return dt + timedelta(seconds=self.seconds)
        if self.kind == "hourly":
            return dt.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        slot = dt.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if self.kind == "daily":
            return slot if slot > dt else slot + timedelta(days=1)
        if self.kind == "monthly":
            slot = slot.replace(day=self.day)
            if slot > dt:
                return slot
            # dt's month counted from year 0 is year * 12 + month - 1; one more is the next month
            year, month = divmod(dt.year * 12 + dt.month, 12)
            return slot.replace(year=year, month=month + 1)
        slot += timedelta(days=(self.weekday - dt.weekday()) % 7)
        return slot if slot > dt else slot + timedelta(days=7)

    def __str__(self) -> str:
        clock = f"{self.hour:02d}:{self.minute:02d}"
        if self.kind == "daily":
            return f"daily {clock}"
        if self.kind == "weekly":
            return f"weekly {WEEKDAYS[self.weekday]} {clock}"
        if self.kind == "monthly":
            return f"monthly {self.day} {clock}"
        if self.kind == "every":
            unit, size = next((u, s) for u, s in UNITS.items() if self.seconds % s == 0)
            return f"every {self.seconds // size}{unit}"
        return self.kind


def _hour_minute(text: str) -> tuple[int, int]:
    found = _TIME.match(text)
    if not found or int(found[1]) > 23 or int(found[2]) > 59:
        raise ValueError(text)
    return int(found[1]), int(found[2])


def _weekday(text: str) -> int:
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    if text in FULL_WEEKDAYS:
        return FULL_WEEKDAYS.index(text)
    raise ValueError(text)


def _month_day(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= LAST_MONTH_DAY:
        raise ValueError(text)
    return int(text)


def _interval(text: str) -> int:
    found = _EVERY.match(text)
    if not found or int(found[1]) == 0:
        raise ValueError(text)
    return int(found[1]) * UNITS[found[2]]
