"""Opening hours, local wall-clock hours around DST, and the forecast range check. Pure.

Times here are *local wall-clock* times, naive (no tzinfo), as a restaurant's staff read
them. ``OpeningHours`` answers "is this slot open?" for single times, slots and whole
arrays of slot starts (the forecasting engine's ``closed`` callable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from typing import Literal, NoReturn
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
FEW_STAMPS = 8  # up to this many, DST gaps are found per stamp (pandas costs ~100 µs a call)
ACCEPTED = (
    "write day ranges and times, e.g. 'mon-sun 11:00-23:00' or "
    "'mon-fri 11:00-23:00; sat-sun 12:00-24:00' (days mon…sun, a single day 'tue 17:00-22:00', "
    "two spans 'mon 11:00-14:00,17:00-22:00'; a span past midnight such as "
    "'fri-sat 18:00-02:00' belongs to the day it starts)"
)

Span = tuple[int, int]  # minutes after the day's midnight; the end may pass 24:00
_GROUP = re.compile(r"([a-z]{3}(?:\s*[-,]\s*[a-z]{3})*)\s+(\S.*)")
_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening spans (index 0 = Monday) plus whole dates closed.

    A span belongs to the day it starts, so ``fri 18:00-02:00`` keeps Saturday 01:00 open.
    A closed date closes its whole calendar date *and* its own spans' tail past midnight,
    so hourly and daily answers agree. With ``tz`` set, a local hour that does not exist
    (the spring DST gap) is closed.
    """

    week: tuple[tuple[Span, ...], ...]
    closed_dates: frozenset[date] = frozenset()
    tz: ZoneInfo | None = None

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        closed_dates: Iterable[date] = (),
        tz: ZoneInfo | None = None,
        field: str = "opening_hours",
    ) -> OpeningHours:
        """Read ``"mon-fri 11:00-23:00; sat-sun 12:00-24:00"``; days not named are closed.

        >>> OpeningHours.parse("mon-sun 11:00-23:00").describe()
        'mon-sun 11:00-23:00'
        """
        week: dict[int, tuple[Span, ...]] = {}
        groups = [g.strip() for g in str(text).lower().split(";") if g.strip()]
        if not groups:
            _refuse(text, "no opening hours given", field)
        for group in groups:
            match = _GROUP.fullmatch(group)
            if match is None:
                _refuse(text, f"cannot read {group!r}", field)
            days = _parse_days(match.group(1), text, field)
            spans = _parse_spans(match.group(2), text, field)
            for d in days:
                if d in week:
                    _refuse(text, f"{DAYS[d]} is given twice; list all its spans once", field)
                week[d] = spans
        return cls(
            week=tuple(week.get(d, ()) for d in range(7)),
            closed_dates=frozenset(closed_dates),
            tz=tz,
        )

    def describe(self) -> str:
        """The weekly hours in the form ``parse`` reads (closed dates are not part of it)."""
        parts: list[str] = []
        d = 0
        while d < 7:
            last = d
            while last + 1 < 7 and self.week[last + 1] == self.week[d]:
                last += 1
            if self.week[d]:
                days = DAYS[d] if last == d else f"{DAYS[d]}-{DAYS[last]}"
                parts.append(f"{days} {','.join(_format_span(s) for s in self.week[d])}")
            d = last + 1
        return "; ".join(parts)

    def is_open(self, ts_local: datetime) -> bool:
        """Whether the restaurant is open at this local wall-clock time (to the minute).

        The scalar form of :meth:`open_slots` with ``minutes=1`` (a request's time is
        checked on every call, so it avoids numpy's per-call set-up)."""
        ts = _naive(ts_local)
        own, tail = self._tables
        minute, day = ts.hour * 60 + ts.minute, ts.date()
        if day in self.closed_dates:
            return False
        is_open = bool(own[ts.weekday(), minute]) or (
            bool(tail[ts.weekday(), minute]) and day - timedelta(days=1) not in self.closed_dates
        )
        return is_open and not (self.tz is not None and _in_gap(ts, self.tz))

    def slot_open(self, start_local: datetime, hours: float) -> bool:
        """A slot counts as open if any part of it is open."""
        minutes = max(int(np.ceil(hours * 60 - 1e-9)), 1)
        stamps = np.array([_naive(start_local)], "datetime64[m]")
        return bool(self.open_slots(stamps, minutes=minutes)[0])

    def closed_mask(self, stamps: np.ndarray, *, freq: Literal["h", "D"]) -> np.ndarray:
        """True where the slot starting at each naive local stamp is closed.

        ``freq="h"``: an hour is closed when no minute of it is open. ``freq="D"``: a day is
        closed when no hour of it is open or it is one of ``closed_dates``.
        """
        if freq == "D":
            days = np.asarray(stamps).astype("datetime64[D]")
            return ~self.open_slots(days.astype("datetime64[m]"), minutes=MINUTES_PER_DAY)
        if freq == "h":
            return ~self.open_slots(np.asarray(stamps).astype("datetime64[m]"), minutes=60)
        raise ValueError(f"freq must be 'h' or 'D', not {freq!r}")

    def open_slots(self, starts: np.ndarray, *, minutes: int) -> np.ndarray:
        """Vectorised: whether any minute of ``[start, start + minutes)`` is open."""
        starts = np.asarray(starts).astype("datetime64[m]")
        days = starts.astype("datetime64[D]")
        offset = (starts - days.astype("datetime64[m]")).astype(np.int64)
        result = np.zeros(starts.shape, dtype=bool)
        # A slot may run into later calendar days; each day is checked on its own part.
        for k in range(int(np.ceil((offset.max(initial=0) + minutes) / MINUTES_PER_DAY))):
            a = np.clip(offset - k * MINUTES_PER_DAY, 0, MINUTES_PER_DAY)
            b = np.clip(offset + minutes - k * MINUTES_PER_DAY, 0, MINUTES_PER_DAY)
            part = a < b
            result[part] |= self._open_within_day(days[part] + k, a[part], b[part])
        if self.tz is not None:
            # A slot wholly inside the hour skipped in spring is closed: nobody can order then.
            skipped = nonexistent(starts, self.tz) & nonexistent(starts + minutes - 1, self.tz)
            result &= ~skipped
        return result

    def closed_reason(self, ts_local: datetime) -> str | None:
        """Why ``ts_local`` is closed, in words for an error message; None when it is open."""
        ts = _naive(ts_local)
        if self.is_open(ts):
            return None
        if ts.date() in self.closed_dates:
            return f"closed on {ts.date().isoformat()}"
        if self.tz is not None and nonexistent(np.array([ts], "datetime64[m]"), self.tz)[0]:
            return (
                f"{ts:%H:%M} on {ts.date().isoformat()} does not exist locally (clocks go forward)"
            )
        eve = ts.date() - timedelta(days=1)
        if eve in self.closed_dates and self._tail_covers(ts):
            return f"closed on {eve.isoformat()}, whose opening runs past midnight"
        day = DAYS[ts.weekday()].title()
        return f"closed at {ts:%H:%M} on {day} (opening hours {self.describe()})"

    def _tail_covers(self, ts: datetime) -> bool:
        minute = ts.hour * 60 + ts.minute
        return bool(self._tables[1][ts.weekday(), minute])

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Per weekday and minute of the calendar day: open by the day's own spans, and open
        by the previous day's spans that run past midnight."""
        own = np.zeros((7, MINUTES_PER_DAY), dtype=bool)
        tail = np.zeros((7, MINUTES_PER_DAY), dtype=bool)
        for d, spans in enumerate(self.week):
            for start, end in spans:
                own[d, start : min(end, MINUTES_PER_DAY)] = True
                if end > MINUTES_PER_DAY:
                    tail[(d + 1) % 7, : end - MINUTES_PER_DAY] = True
        return own, tail

    @cached_property
    def _cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        own, tail = self._tables
        pad = np.zeros((7, 1), dtype=np.int64)
        return (
            np.concatenate([pad, own.cumsum(axis=1)], axis=1),
            np.concatenate([pad, tail.cumsum(axis=1)], axis=1),
        )

    def _open_within_day(self, days: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether minutes ``[a, b)`` of each calendar day hold an open minute."""
        own_cs, tail_cs = self._cumulative
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        own = own_cs[weekday, b] - own_cs[weekday, a] > 0
        tail = tail_cs[weekday, b] - tail_cs[weekday, a] > 0
        if not self.closed_dates:
            return own | tail
        closed = np.array(sorted(self.closed_dates), dtype="datetime64[D]")
        return ~np.isin(days, closed) & (own | (tail & ~np.isin(days - 1, closed)))


def nonexistent(stamps: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """True where a naive local stamp falls in a DST gap (e.g. 02:30 on a spring-forward day)."""
    values = np.asarray(stamps)
    if values.size <= FEW_STAMPS:  # one request's time: zoneinfo, without pandas' set-up
        flat = values.astype("datetime64[us]").ravel().tolist()
        return np.array([_in_gap(v, tz) for v in flat], dtype=bool).reshape(values.shape)
    index = pd.DatetimeIndex(values.astype("datetime64[ns]"))
    ambiguous = np.zeros(len(index), dtype=bool)  # repeated autumn hours do exist
    return np.asarray(index.tz_localize(tz, ambiguous=ambiguous, nonexistent="NaT").isna())


def _in_gap(value: datetime | None, tz: ZoneInfo) -> bool:
    """A wall time that does not round-trip through UTC was skipped by the clocks."""
    if value is None:  # NaT
        return False
    back = value.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return back != value


def slot_bounds(
    start: date | datetime, end: date | datetime, *, granularity: Literal["hour", "day"]
) -> tuple[datetime, datetime]:
    """The first and last slot starts a request covers, both inclusive.

    Days: the dates. Hours: times floored to the hour; a date as ``end`` means its last
    hour (23:00), so "through 2016-01-07" reads naturally.
    """
    if granularity == "day":
        return _as_datetime(_as_date(start)), _as_datetime(_as_date(end))
    first = _floor_hour(start) if isinstance(start, datetime) else _as_datetime(start)
    last = (
        _floor_hour(end) if isinstance(end, datetime) else _as_datetime(end) + timedelta(hours=23)
    )
    return first, last


def check_range(
    start: date | datetime,
    end: date | datetime,
    *,
    granularity: Literal["hour", "day"],
    first_allowed: date | datetime,
    last_allowed: date | datetime,
    horizon_text: str,
    alternative: str | None = None,
) -> None:
    """Refuse a forecast range that is reversed, starts before the first forecast slot or
    ends past the horizon, with an ``InvalidInput`` naming ``start`` or ``end``.

    ``horizon_text`` explains the horizon, e.g. "7 days after the data, which ends
    2015-12-31"; ``alternative`` offers another way, e.g. "granularity=day (28 days)".
    """
    first, last = slot_bounds(start, end, granularity=granularity)
    lowest, highest = slot_bounds(first_allowed, last_allowed, granularity=granularity)
    # Two times within one slot still count as reversed when the end comes first.
    reversed_times = (
        isinstance(start, datetime) and isinstance(end, datetime) and _naive(end) < _naive(start)
    )
    if last < first or reversed_times:
        message = f"end {_format_given(end)} is before start {_format_given(start)}"
        raise InvalidInput(message, details=[{"field": "end", "message": message}])
    details = []
    unit = "hour" if granularity == "hour" else "day"
    if first < lowest:
        details.append(
            {
                "field": "start",
                "message": f"start {_format_given(start)} is before the first forecast {unit}, "
                f"{_format_slot(lowest, granularity)}; ask for a later start",
            }
        )
    if last > highest:
        adjective = "hourly" if granularity == "hour" else "daily"
        message = (
            f"{adjective} forecasts reach {_format_slot(highest, granularity)} ({horizon_text}); "
            "ask for an earlier end"
        )
        details.append(
            {"field": "end", "message": message + (f", or {alternative}" if alternative else "")}
        )
    if details:
        raise InvalidInput("; ".join(d["message"] for d in details), details=details)


def _refuse(text: str, problem: str, field: str) -> NoReturn:
    raise InvalidInput(
        f"opening hours {text!r}: {problem}; {ACCEPTED}",
        details=[{"field": field, "message": f"{problem}; {ACCEPTED}"}],
    )


def _parse_days(text: str, whole: str, field: str) -> list[int]:
    days: list[int] = []
    for item in re.split(r"\s*,\s*", text):
        names = re.split(r"\s*-\s*", item)
        unknown = [n for n in names if n not in DAYS]
        if unknown:
            _refuse(whole, f"unknown day {unknown[0]!r}", field)
        first, last = DAYS.index(names[0]), DAYS.index(names[-1])
        # A range may wrap past Sunday ("fri-mon").
        days.extend((first + k) % 7 for k in range((last - first) % 7 + 1))
    return days


def _parse_spans(text: str, whole: str, field: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    for item in re.split(r"\s*,\s*", text.strip()):
        match = _SPAN.fullmatch(item)
        if match is None:
            _refuse(whole, f"cannot read the time span {item!r}", field)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 > 0):
            _refuse(whole, f"{item!r} is not a time of day (00:00…24:00)", field)
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end == start:
            _refuse(whole, f"{item!r} is empty (a whole day is 00:00-24:00)", field)
        spans.append((start, end if end > start else end + MINUTES_PER_DAY))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start < end:
            _refuse(whole, f"spans overlap in {text.strip()!r}", field)
    return tuple(spans)


def _format_span(span: Span) -> str:
    start, end = span
    end_text = "24:00" if end == MINUTES_PER_DAY else _hhmm(end % MINUTES_PER_DAY)
    return f"{_hhmm(start)}-{end_text}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _naive(ts: datetime) -> datetime:
    """Wall-clock fields as they are; an aware time is read on its own clock."""
    return ts.replace(tzinfo=None)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _as_datetime(value: date) -> datetime:
    return datetime.combine(value, time())


def _floor_hour(value: datetime) -> datetime:
    return _naive(value).replace(minute=0, second=0, microsecond=0)


def _format_given(value: date | datetime) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    return f"{value:%Y-%m-%d %H:%M}" + (f":{value:%S}" if value.second else "")


def _format_slot(value: datetime, granularity: str) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if granularity == "hour" else value.date().isoformat()
