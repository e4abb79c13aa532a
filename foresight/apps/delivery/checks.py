"""The checks every delivery body shares: customer ids, IANA time zones, date-times with
an offset and in range, window lengths. Each says what to fix in its message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import available_timezones

from pydantic import ValidationInfo

# \Z, not $: "$" also matches before a final newline, and "c-1\n" is no id.
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")
HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")
# Window bounds of the bodies; the same numbers are the settings' defaults, and the
# customer part checks again against the settings a deployment chose.
MIN_WINDOW_MINUTES = 15
MAX_WINDOW_HOURS = 24
TIMEZONE_HINT = "an IANA name such as America/New_York"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_customer_id(value: str, field: str = "customer_id") -> str:
    """``value`` if it is a valid customer id, else a ``ValueError`` saying what one is."""
    if not CUSTOMER_ID.match(value):
        raise ValueError(
            f"{field} must be 1 to 100 characters: letters, digits and . _ : - "
            f"(starting with a letter or digit); got {value[:120]!r}"
        )
    return value


def check_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone, else a ``ValueError`` with an example."""
    # The IANA list, not a bare ZoneInfo() try: that also opens files such as "posixrules"
    # or "right/UTC" that are no zone a customer lives in.
    if value not in _zones():
        raise ValueError(f"unknown time zone {value[:64]!r}: timezone must be {TIMEZONE_HINT}")
    return value


def offset_message(field: str) -> str:
    """The message for a date-time ``field`` without a UTC offset."""
    return f"{field} needs a UTC offset, e.g. 2025-06-03T14:00:00-04:00 or …Z"


def require_offset(value: datetime, field: str) -> datetime:
    """``value`` if it carries a UTC offset, else a ``ValueError`` with an example."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(offset_message(field))
    return value


def duration_text(delta: timedelta) -> str:
    """``"26 h"``, ``"90 min"`` or ``"10 s"``: a window length as a message shows it."""
    seconds = delta.total_seconds()
    if abs(seconds) >= 3600:
        return f"{seconds / 3600:g} h"
    if abs(seconds) >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


# Times a request may carry: wide, but inside what every layer below (pandas, the
# history arithmetic, time zones) can hold, so a year 1 or 9999 is a 422, not a crash.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# An attempt is made during its window; a driver may log it a little after the end.
LATE_LOG = timedelta(hours=1)


def time_problem(value: datetime) -> str | None:
    """Why ``value`` is out of the range Foresight accepts, or None."""
    if not EARLIEST <= value < LATEST:
        return f"must be between {EARLIEST.year} and {LATEST.year}; got {value.isoformat()}"
    return None


def attempt_time_problem(attempted_at: datetime, start: datetime, end: datetime) -> str | None:
    """Why an attempt's time does not fit its window (a message for ``attempted_at``)."""
    if attempted_at < start or attempted_at > end + LATE_LOG:
        return (
            "must lie in the window (window_start to an hour after window_end): an attempt "
            "is made during its window"
        )
    return None


def checked_time(value: datetime, info: ValidationInfo) -> datetime:
    """A field validator's check of a request time: it carries an offset and is in range."""
    value = require_offset(value, str(info.field_name))
    if problem := time_problem(value):
        raise ValueError(problem)
    return value


def checked_window_end(value: datetime, info: ValidationInfo) -> datetime:
    """A field validator's check of ``window_end`` against the ``window_start`` before it."""
    start = info.data.get("window_start")
    problem = window_problem(start, value) if start is not None else None
    if problem:
        raise ValueError(problem)
    return value


def window_problem(
    start: datetime,
    end: datetime,
    *,
    min_minutes: int = MIN_WINDOW_MINUTES,
    max_hours: int = MAX_WINDOW_HOURS,
) -> str | None:
    """What is wrong with the window ``[start, end)`` (a message for field ``window_end``),
    or None if it is after its start and ``min_minutes`` to ``max_hours`` long."""
    if end <= start:
        return "must be after window_start"
    length = end - start
    if length < timedelta(minutes=min_minutes) or length > timedelta(hours=max_hours):
        return (
            f"a window is {duration_text(timedelta(minutes=min_minutes))} to "
            f"{duration_text(timedelta(hours=max_hours))} long; got {duration_text(length)}"
        )
    return None
