"""``.ics`` bytes → busy intervals (UTC epoch seconds), with limits that hold against
hostile or broken files. Pure: no I/O, no clock. Only intervals leave this module.

Steps (docs/delivery-plan.md §4.4): size cap; parse (``icalendar``); count VEVENTs;
bound each rule's expansion *before* expanding; expand over the window, one series at a
time (``recurring_ical_events``, which honours Google's ``X-WR-TIMEZONE`` through
``x-wr-timezone``); keep busy instances; clip and merge.

Why rules are bounded before they are expanded: see ``calendar_bounds``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import numpy as np
import recurring_ical_events
from recurring_ical_events import ComponentsWithName, EventAdapter, Occurrence, Series

from foresight.apps.delivery.calendar_bounds import (
    UID_CLIP,
    check_expansion,
    clip,
    listed,
    to_epoch,
    uid_of,
)
from foresight.platform.errors import InvalidInput, PayloadTooLarge

__all__ = ["CalendarLimits", "ParsedCalendar", "busy_between", "parse_busy"]

# Widening the expansion window by a day covers floating and all-day instances whose
# zone is only applied afterwards (offsets stay within ±14 h); the exact clip follows.
_QUERY_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class CalendarLimits:
    """Caps on one calendar: file size, VEVENT count and expanded instances."""

    max_bytes: int = 5 * 2**20
    max_components: int = 20_000
    max_instances: int = 50_000


@dataclass(frozen=True)
class ParsedCalendar:
    """Busy time of one calendar over a window.

    ``busy`` is (n, 2) int64 UTC epoch seconds, sorted, merged (overlapping or touching
    intervals joined) and clipped to the window; ``all_day[i]`` is True if any piece of
    interval i came from an all-day (DATE) event; ``instances`` counts busy instances
    before merging; ``floating_times`` says some event had no zone.
    """

    busy: np.ndarray
    all_day: np.ndarray
    instances: int
    floating_times: bool
    warnings: list[str] = field(default_factory=list)


class _BusyEventAdapter(EventAdapter):
    """A VEVENT adapter that also says whether the event blocks time."""

    @cached_property
    def busy(self) -> bool:
        transparent = str(self._component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
        cancelled = str(self._component.get("STATUS", "")).upper() == "CANCELLED"
        return not (transparent or cancelled)


class _BusyOccurrence(Occurrence):
    """An occurrence that keeps its component's busy flag (overrides have their own)."""

    def __init__(self, adapter: _BusyEventAdapter, *args: object, **kwargs: object) -> None:
        super().__init__(adapter, *args, **kwargs)  # type: ignore[arg-type]
        self.busy = adapter.busy


_EVENTS = ComponentsWithName("VEVENT", _BusyEventAdapter, occurrence=_BusyOccurrence)


def parse_busy(
    data: bytes,
    *,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    limits: CalendarLimits = CalendarLimits(),
) -> ParsedCalendar:
    """Expand an iCalendar file into busy intervals within [start, end).

    ``tz`` is the customer's zone: all-day events run from its local midnight to
    midnight, and floating times (no TZID, no Z) are read in it (unless the file names
    its own zone in X-WR-TIMEZONE). Raises ``PayloadTooLarge`` over a limit and
    ``InvalidInput`` for a file that is not iCalendar. Unreadable events and series
    are skipped with a warning naming their UID.
    """
    _window(start, end)  # a bad window is the caller's error, before any parsing
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"calendar too large: {len(data):,} bytes, at most {limits.max_bytes:,}"
        )
    calendar = _parse(data)
    events = list(calendar.walk("VEVENT"))
    if len(events) > limits.max_components:
        raise PayloadTooLarge(
            f"calendar too large: {len(events):,} events, at most {limits.max_components:,}"
        )
    try:
        return _busy(calendar, events, tz, start, end, limits)
    except (OverflowError, ArithmeticError) as exc:
        # A date past what Python's datetime holds (DTSTART in 9999 plus a duration, a
        # DURATION of a million weeks): the file is unusable, not the server broken.
        raise InvalidInput(
            f"not a usable iCalendar file: a date is out of range ({clip(exc)})"
        ) from None


def _busy(
    calendar: Any,
    events: list[Any],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    limits: CalendarLimits,
) -> ParsedCalendar:
    start_s, end_s = _window(start, end)
    warnings: list[str] = []
    events = _drop_broken(calendar, events, warnings)
    floating = _read_zones(calendar, events, tz, warnings)
    q_start, q_end = start - _QUERY_MARGIN, end + _QUERY_MARGIN
    check_expansion(events, q_end, limits.max_instances)
    try:
        query = recurring_ical_events.of(calendar, components=[_EVENTS], skip_bad_series=True)
    # The library refuses whole calendars it cannot read (a non-Gregorian CALSCALE); the
    # rest are malformed values the checks above did not foresee. Either way: not usable.
    except (recurring_ical_events.InvalidCalendar, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"not a usable iCalendar file: {clip(exc)}") from None
    kept = {str(series.uid) for series in query.series}
    # Events without a UID get a made-up one from the library; they cannot be matched.
    for uid in sorted({str(e["UID"]) for e in events if "UID" in e} - kept):
        warnings.append(f"skipped event {clip(uid, UID_CLIP)}: its recurrence is invalid")
    rows = _expand(query.series, q_start, q_end, tz, limits, warnings)
    busy, all_day, instances = _merge(rows, start_s, end_s)
    return ParsedCalendar(busy, all_day, instances, floating, warnings)


def busy_between(parsed_busy: np.ndarray, start_s: int, end_s: int) -> np.ndarray:
    """The merged intervals that overlap [start_s, end_s), clipped to it (a copy).

    >>> busy_between(np.array([[0, 10], [20, 30]]), 5, 25).tolist()
    [[5, 10], [20, 25]]
    """
    busy = np.asarray(parsed_busy, dtype=np.int64).reshape(-1, 2)
    # Merged intervals are disjoint and sorted, so their ends are sorted too.
    lo = int(np.searchsorted(busy[:, 1], start_s, side="right"))
    hi = int(np.searchsorted(busy[:, 0], end_s, side="left"))
    out = busy[lo : max(lo, hi)].copy()
    np.clip(out, start_s, end_s, out=out)
    return out[out[:, 1] > out[:, 0]]


def _window(start: datetime, end: datetime) -> tuple[int, int]:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("calendar window: start and end need a time zone")
    if end <= start:
        raise InvalidInput(f"calendar window: end ({end}) must be after start ({start})")
    return math.floor(start.timestamp()), math.ceil(end.timestamp())


def _parse(data: bytes) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    # The parser meets untrusted bytes and fails in more ways than ValueError (an
    # IndexError on a truncated line, a KeyError on odd parameters); all mean "not ics".
    except Exception as exc:
        raise InvalidInput(f"not an iCalendar file: {clip(exc)}") from None
    if getattr(calendar, "name", None) != "VCALENDAR":
        raise InvalidInput("not an iCalendar file: no VCALENDAR component")
    return calendar


def _drop_broken(calendar: icalendar.Calendar, events: list, warnings: list[str]) -> list:
    """Remove VEVENTs whose times or rules cannot be read, with a warning each."""
    kept, broken = [], []
    for event in events:
        try:
            event["DTSTART"].dt  # noqa: B018 - reading it is the check
            for name in ("DTEND", "DURATION", "RECURRENCE-ID"):
                if name in event:
                    event[name].dt  # noqa: B018
            for name in ("EXDATE", "RDATE"):
                for values in listed(event.get(name)):
                    values.dts  # noqa: B018
            for rule in listed(event.get("RRULE")):
                if not isinstance(rule, icalendar.vRecur) or not rule.get("FREQ"):
                    raise ValueError("bad RRULE")
            kept.append(event)
        except (KeyError, ValueError, TypeError, AttributeError):
            broken.append(event)
    if broken:
        ids = {id(e) for e in broken}
        for parent in calendar.walk():
            parent.subcomponents = [c for c in parent.subcomponents if id(c) not in ids]
        for event in broken:
            warnings.append(f"skipped event {uid_of(event)}: unreadable dates or RRULE")
    return kept


def _read_zones(calendar: icalendar.Calendar, events: list, tz: ZoneInfo, warnings: list) -> bool:
    """Check X-WR-TIMEZONE and look for floating times; say how they will be read."""
    declared = calendar.get("X-WR-TIMEZONE")
    zone_name: str | None = None
    if declared is not None:
        try:
            zone_name = str(ZoneInfo(str(declared)))
        # A directory ("America") or an over-long name raises OSError, not a lookup error.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            warnings.append(f"X-WR-TIMEZONE {clip(declared, 60)!r} is not a known zone; ignored")
            del calendar["X-WR-TIMEZONE"]
    # A datetime without tzinfo is floating; a DATE (all-day) has no tzinfo attribute.
    floating = [e for e in events if getattr(e["DTSTART"].dt, "tzinfo", 0) is None]
    if floating:
        # x-wr-timezone (inside recurring_ical_events.of) localises floating times in the
        # calendar's declared zone, as Google and Apple do; only without one is the
        # customer's zone the best guess.
        reader = f"X-WR-TIMEZONE {zone_name}" if zone_name else f"the customer's zone {tz.key}"
        warnings.append(
            f"{len(floating):,} event(s) have floating times (no time zone), e.g. "
            f"{uid_of(floating[0])}; read in {reader}"
        )
    return bool(floating)


def _expand(
    series_list: list[Series],
    q_start: datetime,
    q_end: datetime,
    tz: ZoneInfo,
    limits: CalendarLimits,
    warnings: list[str],
) -> list[tuple[int, int, bool]]:
    """Busy (start, end, all_day) rows; stops once more than max_instances are seen.

    The total is checked after each whole series, so the message names the densest one
    by its full count; the bound keeps each series under the cap, so work stays < 2×.
    """
    rows: list[tuple[int, int, bool]] = []
    per_uid: Counter[str] = Counter()
    for series in series_list:
        uid = str(series.uid)
        found: list[tuple[int, int, bool]] = []
        try:
            for occurrence in series.between(q_start, q_end):
                per_uid[uid] += 1
                if per_uid[uid] > limits.max_instances:
                    break  # only a rule the bound missed gets here; the total check fires
                if not occurrence.busy:
                    continue
                s, all_day = to_epoch(occurrence.start, tz)
                e, _ = to_epoch(occurrence.end, tz)
                if e > s:
                    found.append((s, e, all_day))
        # One broken series must not sink the calendar (skip_bad_series covers only
        # what the library anticipated; dateutil adds ValueError and TypeError).
        except (*recurring_ical_events.CalendarQuery.suppressed_errors, ValueError, TypeError):
            warnings.append(f"skipped event {clip(uid, UID_CLIP)}: its recurrence is invalid")
            continue
        rows.extend(found)
        if per_uid.total() > limits.max_instances:
            densest, count = per_uid.most_common(1)[0]
            raise PayloadTooLarge(
                f"calendar too large: more than {limits.max_instances:,} event instances "
                f"by {q_end - _QUERY_MARGIN:%Y-%m-%d}; the densest is event "
                f"{clip(densest, UID_CLIP)} ({count:,} instances)"
            )
    return rows


def _merge(rows: list[tuple[int, int, bool]], start_s: int, end_s: int) -> tuple:
    """(busy, all_day, instances): rows clipped to the window, sorted and merged."""
    table = np.array([(s, e) for s, e, _ in rows], dtype=np.int64).reshape(-1, 2)
    flags = np.array([a for _, _, a in rows], dtype=bool)
    np.clip(table, start_s, end_s, out=table)
    keep = table[:, 1] > table[:, 0]
    table, flags = table[keep], flags[keep]
    busy, all_day = np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=bool)
    if len(table):
        order = np.lexsort((table[:, 1], table[:, 0]))
        table, flags = table[order], flags[order]
        reach = np.maximum.accumulate(table[:, 1])
        # A new interval starts where the start is past everything seen so far; touching
        # (start == previous reach) joins, so back-to-back meetings become one block.
        first = np.flatnonzero(np.r_[True, table[1:, 0] > reach[:-1]])
        busy = np.column_stack([table[first, 0], np.maximum.reduceat(table[:, 1], first)])
        all_day = np.logical_or.reduceat(flags, first)
    return busy.astype(np.int64), all_day, len(table)
