"""Pure window features: DST-aware grids, window descriptors, preferences, calendar, matrix.

The same functions build the training frame, the hot path's one customer-day and batch
rows (docs/delivery-plan.md §5.1): NumPy only, vectorised over windows, no pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from foresight.apps.delivery.history import HISTORY_FEATURES, local_parts
from foresight.platform.errors import InvalidInput

WINDOW_FEATURES: tuple[str, ...] = ("start_hour", "window_hours", "weekday", "weekend", "holiday")
PROFILE_FEATURES: tuple[str, ...] = ("preferred", "blocked")  # numeric; categorical below
CALENDAR_FEATURES: tuple[str, ...] = ("cal_known", "cal_busy_share", "cal_busy_near", "cal_all_day")
WEATHER_FEATURES: tuple[str, ...] = ("precip_mm", "precip_prob", "temp_c")
FEATURES: tuple[str, ...] = (
    WINDOW_FEATURES + PROFILE_FEATURES + HISTORY_FEATURES + CALENDAR_FEATURES + WEATHER_FEATURES
)
CATEGORICAL: tuple[str, ...] = ("household_type", "zone")  # strings, passed beside the matrix
HOUSEHOLD_TYPES: tuple[str, ...] = (
    "commuter",
    "remote_worker",
    "shift_worker",
    "retired",
    "student",
    "parent",
    "unknown",
)
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MINUTES = 7 * 1440


# -- window grids and descriptors -------------------------------------------------------


def _utc_seconds(day: date, clock: time, tz: ZoneInfo, *, end: bool = False) -> int:
    # A start in a spring-forward gap resolves with fold=0 (the offset before the
    # change), as zoneinfo does: 02:30 on 9 March 2025 in New York is 03:30 EDT, after
    # the gap. An end there is the change itself (03:00 EDT): a grid asked to end by a
    # time the clock skips must not run past the skipped hour.
    moment = datetime.combine(day, clock.replace(tzinfo=None), tzinfo=tz)
    after = round(moment.timestamp())
    before = round(moment.replace(fold=1).timestamp())
    if not end or before >= after:  # no gap (an ambiguous time has fold=1 later)
        return after
    offset = datetime.fromtimestamp(before, tz).utcoffset()
    while after - before > 1:  # the first second with the new offset
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after


def day_grid(
    day: date, tz: ZoneInfo, *, first: time, last: time, minutes: int
) -> tuple[np.ndarray, np.ndarray]:
    """UTC start and end epoch seconds (int64) of back-to-back windows on local ``day``.

    The grid runs from local ``first`` to local ``last`` (``time(0)`` means midnight at the
    end of the day), both read on the wall clock of ``day``; windows are ``minutes`` of real
    time each, so a 23- or 25-hour day has fewer or more of them (00–24 at 30 min: 46 on
    9 March 2025 and 50 on 2 November 2025 in New York) while 08–21 keeps 26. A last
    partial window is dropped.
    """
    if not 0 < minutes <= 1440:
        raise InvalidInput(f"window minutes must be between 1 and 1440; got {minutes}")
    begin = _utc_seconds(day, first, tz)
    end_day = day + timedelta(days=1) if last == time(0) else day
    finish = _utc_seconds(end_day, last, tz, end=True)
    if finish <= begin and (last == time(0) or last > first):
        # The hours asked for fall in a clock change's gap: that day has no window.
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if finish <= begin:
        raise InvalidInput(
            f"the grid's last time ({last.isoformat('minutes')}) must be after its first "
            f"({first.isoformat('minutes')}); use 00:00 for midnight at the end of the day"
        )
    step = minutes * 60
    starts = begin + step * np.arange((finish - begin) // step, dtype=np.int64)
    return starts, starts + step


def wall_hours(days: list[date], tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clock hours [h:00, h+1:00) of each local day as UTC (start, end) epoch seconds,
    and each one's cell (day index × 24 + h). An hour a clock change skips is left out; one
    it shortens (a 30-minute change) or repeats (a fall-back) keeps its real length."""
    starts, ends, cells = [], [], []
    for i, day in enumerate(days):
        for hour in range(24):
            begin = _utc_seconds(day, time(hour), tz)
            if hour < 23:
                finish = _utc_seconds(day, time(hour + 1), tz, end=True)
            else:
                finish = _utc_seconds(day + timedelta(days=1), time(0), tz, end=True)
            if finish > begin:
                starts.append(begin)
                ends.append(finish)
                cells.append(i * 24 + hour)
    as_int = np.int64
    return np.array(starts, as_int), np.array(ends, as_int), np.array(cells, as_int)


@dataclass(frozen=True, slots=True)
class Windows:
    """Windows described in the customer's local time (one entry per window)."""

    start: np.ndarray  # int64 UTC epoch seconds
    end: np.ndarray  # int64 UTC epoch seconds
    start_hour: np.ndarray  # float64 local clock hour of the start, e.g. 14.5
    hours: np.ndarray  # float64 real length in hours
    weekday: np.ndarray  # int8 local weekday of the start, 0 = Mon
    local_day: np.ndarray  # int32 local date ordinal of the start

    def __len__(self) -> int:
        return int(self.start.shape[0])


def describe(start: np.ndarray, end: np.ndarray, tz: ZoneInfo) -> Windows:
    """Describe windows [start, end) (UTC epoch seconds) in the local time of ``tz``."""
    s = np.asarray(start, dtype=np.int64).reshape(-1)
    e = np.asarray(end, dtype=np.int64).reshape(-1)
    if s.shape != e.shape:
        raise InvalidInput(f"{s.size} window starts but {e.size} ends; give one end per start")
    if np.any(e <= s):
        raise InvalidInput("every window must end after it starts")
    hour, weekday, day = local_parts(s, tz)
    return Windows(
        start=s, end=e, start_hour=hour, hours=(e - s) / 3600.0, weekday=weekday, local_day=day
    )


@lru_cache(maxsize=4096)
def grid_windows(day: date, tz: ZoneInfo, *, first: time, last: time, minutes: int) -> Windows:
    """``describe(*day_grid(...))``, cached: every customer in a zone shares a day's grid.

    The arrays are read-only because the cache hands the same ones to every caller.
    """
    w = describe(*day_grid(day, tz, first=first, last=last, minutes=minutes), tz)
    for array in (w.start, w.end, w.start_hour, w.hours, w.weekday, w.local_day):
        array.flags.writeable = False
    return w


# -- weekly preferences -----------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyRanges:
    """Merged, sorted minute-of-week intervals [lo, hi) (0 = Monday 00:00)."""

    lo: np.ndarray  # int64
    hi: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.lo.shape[0])


def _field(window: Any, name: str) -> Any:
    if isinstance(window, Mapping):
        if name not in window:
            raise InvalidInput(f"a weekly window needs '{name}'; got keys {sorted(window)}")
        return window[name]
    return getattr(window, name)


def _minutes(value: Any, *, what: str, allow_24: bool) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    text = str(value).strip()
    hh, sep, mm = text.partition(":")
    if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and len(hh) <= 2:
        hour, minute = int(hh), int(mm)
        if (hour < 24 and minute < 60) or (allow_24 and hour == 24 and minute == 0):
            return hour * 60 + minute
    limit = "00:00 to 24:00" if allow_24 else "00:00 to 23:59"
    raise InvalidInput(f"weekly window {what} must be HH:MM ({limit}); got {text!r}")


def _day_index(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 7:
        return value
    name = str(getattr(value, "value", value)).strip().lower()[:3]
    if name in WEEKDAYS:
        return WEEKDAYS.index(name)
    raise InvalidInput(f"unknown weekday {value!r}; use one of {', '.join(WEEKDAYS)}")


def compile_weekly(windows: Iterable[Mapping[str, Any] | Any]) -> WeeklyRanges:
    """Compile ``[{days: ["mon", …], start: "HH:MM", end: "HH:MM"}, …]`` to weekly ranges.

    ``end`` may be "24:00"; an ``end`` at or before ``start`` runs overnight into the next
    day (Sunday into Monday).

    >>> r = compile_weekly([{"days": ["sun"], "start": "22:00", "end": "06:00"}])
    >>> r.lo.tolist(), r.hi.tolist()
    ([0, 9960], [360, 10080])
    """
    pieces: list[tuple[int, int]] = []
    for window in windows:
        start = _minutes(_field(window, "start"), what="start", allow_24=False)
        end = _minutes(_field(window, "end"), what="end", allow_24=True)
        for day in {_day_index(d) for d in _field(window, "days")}:
            base = day * 1440
            if end > start:
                pieces.append((base + start, base + end))
                continue
            pieces.append((base + start, base + 1440))
            if end > 0:
                nxt = ((day + 1) % 7) * 1440
                pieces.append((nxt, nxt + end))
    merged: list[list[int]] = []
    for lo, hi in sorted(pieces):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    lo_hi = np.array(merged, dtype=np.int64).reshape(-1, 2)
    return WeeklyRanges(lo=lo_hi[:, 0].copy(), hi=lo_hi[:, 1].copy())


def _hits(ranges: WeeklyRanges, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    # The first range ending after s is the only candidate: ranges are merged and sorted.
    j = np.searchsorted(ranges.hi, s, side="right")
    inside = j < len(ranges)
    return inside & (ranges.lo[np.minimum(j, len(ranges) - 1)] < e)


def overlaps(ranges: WeeklyRanges, w: Windows) -> np.ndarray:
    """Whether each window overlaps any range, in local minute-of-week (bool array).

    A window is its local start plus its real length, wrapping from Sunday to Monday.
    """
    if len(ranges) == 0:
        return np.zeros(len(w), dtype=bool)
    s = w.weekday.astype(np.float64) * 1440.0 + w.start_hour * 60.0
    e = s + w.hours * 60.0
    hit = _hits(ranges, s, np.minimum(e, WEEK_MINUTES))
    wraps = e > WEEK_MINUTES
    if wraps.any():
        hit |= wraps & _hits(ranges, np.zeros_like(s), e - WEEK_MINUTES)
    return hit | (w.hours * 60.0 >= WEEK_MINUTES)


# -- calendar ---------------------------------------------------------------------------


def _busy_before(
    starts: np.ndarray, ends: np.ndarray, cum: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Busy seconds before each instant t (intervals sorted and non-overlapping)."""
    i = np.searchsorted(starts, t, side="right")  # intervals starting at or before t
    tail = np.maximum(ends[np.maximum(i - 1, 0)] - t, 0)  # the part of the last one after t
    return cum[i] - np.where(i > 0, tail, 0)


def busy_features(
    w: Windows,
    busy: np.ndarray,
    all_day: np.ndarray,
    *,
    known: bool,
    near_minutes: int = 60,
) -> np.ndarray:
    """(n, 4) float64 in CALENDAR_FEATURES order from busy intervals [start, end) UTC.

    ``busy`` is (m, 2) int64, sorted and merged (``calendars.parse_busy``'s output) and
    ``all_day`` flags each interval. ``cal_busy_share`` is the busy share of the window,
    ``cal_busy_near`` 1 when something is busy within ``near_minutes`` before or after it,
    ``cal_all_day`` 1 when it touches an all-day event. An unknown calendar (none, stale
    or unavailable) gives all zeros, ``cal_known`` = 0 included.
    """
    out = np.zeros((len(w), len(CALENDAR_FEATURES)), dtype=np.float64)
    if not known:
        return out
    out[:, 0] = 1.0
    intervals = np.asarray(busy, dtype=np.int64).reshape(-1, 2)
    flags = np.asarray(all_day, dtype=bool).reshape(-1)
    if flags.shape[0] != intervals.shape[0]:
        raise InvalidInput(
            f"{intervals.shape[0]} busy intervals but {flags.shape[0]} all-day flags"
        )
    if intervals.shape[0] == 0 or len(w) == 0:
        return out
    starts, ends = intervals[:, 0], intervals[:, 1]
    cum = np.concatenate(([0], np.cumsum(ends - starts)))
    near = near_minutes * 60
    n = len(w)
    # One search for all four instants: start, end, start − near, end + near.
    times = np.concatenate((w.start, w.end, w.start - near, w.end + near))
    upto = _busy_before(starts, ends, cum, times)
    at_start, at_end = upto[:n], upto[n : 2 * n]
    lead, trail = at_start - upto[2 * n : 3 * n], upto[3 * n :] - at_end
    out[:, 1] = (at_end - at_start) / (w.end - w.start)
    out[:, 2] = (lead > 0) | (trail > 0)
    # Intervals touching [start, end) are those from the first ending after start to the
    # last starting before end; a prefix count of the all-day flags answers "any?".
    first = np.searchsorted(ends, w.start, side="right")
    stop = np.maximum(np.searchsorted(starts, w.end, side="left"), first)
    flagged = np.concatenate(([0], np.cumsum(flags)))
    out[:, 3] = flagged[stop] > flagged[first]
    return out


# -- the matrix -------------------------------------------------------------------------


def _column(name: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise InvalidInput(f"{name}: expected shape {shape}, got {array.shape}")
    return array


def assemble(
    w: Windows,
    *,
    holiday: np.ndarray,
    preferred: np.ndarray,
    blocked: np.ndarray,
    history: np.ndarray,
    calendar: np.ndarray,
    weather: np.ndarray,
) -> np.ndarray:
    """The (n, len(FEATURES)) float64 model matrix, columns in FEATURES order.

    ``holiday``, ``preferred`` and ``blocked`` are (n,) flags; ``history`` comes from
    ``history_features``, ``calendar`` from ``busy_features`` and ``weather`` is
    (n, 3) in WEATHER_FEATURES order.
    """
    n = len(w)
    out = np.empty((n, len(FEATURES)), dtype=np.float64)
    out[:, 0] = w.start_hour
    out[:, 1] = w.hours
    out[:, 2] = w.weekday
    out[:, 3] = w.weekday >= 5
    out[:, 4] = _column("holiday", holiday, (n,))
    out[:, 5] = _column("preferred", preferred, (n,))
    out[:, 6] = _column("blocked", blocked, (n,))
    col = len(WINDOW_FEATURES) + len(PROFILE_FEATURES)
    for name, block, width in (
        ("history", history, len(HISTORY_FEATURES)),
        ("calendar", calendar, len(CALENDAR_FEATURES)),
        ("weather", weather, len(WEATHER_FEATURES)),
    ):
        out[:, col : col + width] = _column(name, block, (n, width))
        col += width
    return out
