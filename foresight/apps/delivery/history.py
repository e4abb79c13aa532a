"""Pure, point-in-time history features of one customer's delivery attempts.

One code path for training (one call per customer), serving (a day of ~26 windows against
≤ 500 attempts) and batches. A window sees only the attempts with ``at < start`` of *that*
window; everything is a vectorised (windows × attempts) mask-and-weight product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from foresight.platform.errors import InvalidInput

DAY_SECONDS = 86_400
NO_HISTORY_DAYS = 365.0  # days_since_last with no earlier attempt; older gaps are capped here
RECENT_DAYS = 28  # the window of rate_28d
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_CELLS = 2_000_000  # windows × attempts per block; bounds the memory of a big call
# Per-weekday sums (7 of Σw·k, 7 of Σw·k·y) → per day type (Mon–Fri, Sat–Sun) of each.
_DAY_TYPES = np.kron(np.eye(2), np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 2))

HISTORY_FEATURES: tuple[str, ...] = (
    *("n_attempts", "rate_customer", "rate_daytype_hour", "rate_dow_hour"),
    *("n_eff_daytype_hour", "n_eff_dow_hour", "base_rate", "days_since_last"),
    *("last_delivered", "fails_same_day", "delivered_same_day", "rate_28d"),
)


@dataclass(frozen=True, slots=True)
class HistoryParams:
    """Constants of the history features; ``prior`` is the global training success rate g."""

    decay_half_life_days: float = 120.0
    hour_kernel_sigma: float = 1.0
    shrink: float = 2.0
    prior: float = 0.7

    def __post_init__(self) -> None:
        for name in ("decay_half_life_days", "hour_kernel_sigma", "shrink"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InvalidInput(f"{name} must be a positive number; got {value}")
        if not (0.0 <= self.prior <= 1.0):
            raise InvalidInput(f"prior is a success rate between 0 and 1; got {self.prior}")


# -- local time, vectorised -------------------------------------------------------------


def _offset(tz: ZoneInfo, t: int) -> int:
    return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())  # type: ignore[union-attr]


@lru_cache(maxsize=8192)
def _day_offsets(tz: ZoneInfo, utc_day: int) -> tuple[int, int, int]:
    """(offset at the UTC day's start, first second of the next offset, that offset).

    Zones change offset at most once a day in practice, so one bisection per transition
    day (17 steps) gives exact offsets for every second of the day; the cache makes the
    hot path a dictionary look-up per distinct UTC day.
    """
    lo, hi = utc_day * DAY_SECONDS, (utc_day + 1) * DAY_SECONDS
    before, after = _offset(tz, lo), _offset(tz, hi)
    if before == after:
        return before, hi, after
    while hi - lo > 1:  # invariant: offset(lo) == before != offset(hi)
        mid = (lo + hi) // 2
        if _offset(tz, mid) == before:
            lo = mid
        else:
            hi = mid
    return before, hi, _offset(tz, hi)


def utc_offsets(utc_seconds: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The zone's UTC offset in seconds (int64) at each instant, e.g. −14400 for EDT."""
    t = np.asarray(utc_seconds, dtype=np.int64)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    days = t // DAY_SECONDS
    first, last = int(days.min()), int(days.max())
    # A short span (the hot path's one or two days) skips np.unique's sort.
    keys = np.arange(first, last + 1) if last - first < 64 else np.unique(days)
    table = np.array([_day_offsets(tz, int(d)) for d in keys], np.int64)
    rows = table[np.searchsorted(keys, days)]
    return np.where(t < rows[:, 1], rows[:, 0], rows[:, 2])


def local_parts(utc_seconds: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local clock hour (float64), weekday (int8, 0 = Mon) and date ordinal (int32).

    >>> from zoneinfo import ZoneInfo
    >>> hour, weekday, day = local_parts(np.array([1741521600]), ZoneInfo("America/New_York"))
    >>> float(hour[0]), int(weekday[0]), date.fromordinal(int(day[0])).isoformat()
    (8.0, 6, '2025-03-09')
    """
    t = np.asarray(utc_seconds, dtype=np.int64)
    local = t + utc_offsets(t, tz)
    days = local // DAY_SECONDS
    hour = (local - days * DAY_SECONDS) / 3600.0
    ordinal = days + _EPOCH_ORDINAL
    # date(1, 1, 1) (ordinal 1) was a Monday.
    return hour, ((ordinal - 1) % 7).astype(np.int8), ordinal.astype(np.int32)


# -- one customer's attempts ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """One customer's attempts, sorted by ``at`` ascending (ties: failures first)."""

    at: np.ndarray  # int64 UTC epoch seconds (attempted_at)
    local_hour: np.ndarray  # float64, the attempt's local clock hour (e.g. 14.5)
    weekday: np.ndarray  # int8 0 = Mon … 6 = Sun (local)
    local_day: np.ndarray  # int32 local date ordinal (date.toordinal())
    delivered: np.ndarray  # bool

    @classmethod
    def from_times(cls, at_utc_seconds: np.ndarray, delivered: np.ndarray, tz: ZoneInfo) -> History:
        """Sort the attempts and compute their local hour, weekday and date in ``tz``."""
        at = np.asarray(at_utc_seconds, dtype=np.int64).reshape(-1)
        outcome = np.asarray(delivered, dtype=bool).reshape(-1)
        if at.shape != outcome.shape:
            raise InvalidInput(
                f"history: {at.size} attempt times but {outcome.size} outcomes; give one each"
            )
        # A stable order on (at, delivered) makes ties independent of the row order the
        # store returns, so training and serving build the same History.
        order = np.lexsort((outcome, at))
        at, outcome = at[order], outcome[order]
        hour, weekday, day = local_parts(at, tz)
        return cls(at=at, local_hour=hour, weekday=weekday, local_day=day, delivered=outcome)

    @classmethod
    def empty(cls) -> History:
        """A customer without attempts."""
        return cls(*(np.zeros(0, t) for t in (np.int64, np.float64, np.int8, np.int32, bool)))

    def __len__(self) -> int:
        return int(self.at.shape[0])


# -- features ---------------------------------------------------------------------------


class _Win(NamedTuple):
    """The windows' arrays, validated, as one value (a block is a subset of its rows)."""

    start: np.ndarray  # int64
    start_hour: np.ndarray
    hours: np.ndarray
    weekday: np.ndarray  # int64
    local_day: np.ndarray  # int64

    def take(self, rows: np.ndarray) -> _Win:
        return _Win(*(a[rows] for a in self))


def _win(start: Any, start_hour: Any, hours: Any, weekday: Any, local_day: Any) -> _Win:
    win = _Win(
        np.asarray(start, dtype=np.int64).reshape(-1),
        np.asarray(start_hour, dtype=np.float64).reshape(-1),
        np.asarray(hours, dtype=np.float64).reshape(-1),
        np.asarray(weekday, dtype=np.int64).reshape(-1),
        np.asarray(local_day, dtype=np.int64).reshape(-1),
    )
    if len({a.shape[0] for a in win}) != 1:
        sizes = ", ".join(str(a.shape[0]) for a in win)
        raise InvalidInput(f"window arrays differ in length ({sizes}); give one value each")
    return win


def _blocks(hist: History, win: _Win, half_life_s: float) -> list[np.ndarray] | None:
    """Row groups for a big call, or None when one block will do.

    A block bounds the (windows × attempts) matrices, and the spread of its window starts
    stays under 200 half-lives so the factored decay weights cannot overflow.
    """
    n = win.start.shape[0]
    step = max(1, _MAX_CELLS // max(1, len(hist)))
    span = 200.0 * half_life_s
    if n == 0 or (n <= step and int(win.start.max()) - int(win.start.min()) < span):
        return None
    group = ((win.start - win.start.min()) // span).astype(np.int64)
    order = np.argsort(group, kind="stable")
    edges = np.flatnonzero(np.diff(group[order])) + 1
    return [
        part[i : i + step] for part in np.split(order, edges) for i in range(0, part.shape[0], step)
    ]


@dataclass(frozen=True, slots=True)
class _Cut:
    """The point-in-time cut of one block of windows against a history."""

    idx: np.ndarray  # attempts [0, idx[i]) happened before window i starts
    used: int  # attempts any window in the block can see
    before: np.ndarray | None  # (n, used) bool, col < idx[i]; None when all see all `used`
    y: np.ndarray  # (used,) float64 outcomes
    cum_y: np.ndarray  # (used + 1,) prefix sums of y


def _cut(hist: History, start: np.ndarray) -> _Cut:
    idx = np.searchsorted(hist.at, start, side="left")
    used = int(idx.max()) if idx.size else 0
    y = hist.delivered[:used].astype(np.float64)
    cum_y = np.concatenate(([0.0], np.cumsum(y)))
    # Serving asks about future windows, which all see every attempt: no mask needed.
    before = None if int(idx.min(initial=used)) == used else np.arange(used) < idx[:, None]
    return _Cut(idx=idx, used=used, before=before, y=y, cum_y=cum_y)


def _base_rate(hist: History, cut: _Cut, win: _Win, params: HistoryParams) -> np.ndarray:
    m, g = params.shrink, params.prior
    r_c = (cut.cum_y[cut.idx] + m * g) / (cut.idx + m)
    if cut.used == 0:
        return r_c
    # Hour-of-week cells: attempt j's cell counts when the window's local interval
    # [start_hour, start_hour + hours) touches it; past midnight it runs into the next
    # day. Integer seconds make "touches" exact (no float noise at whole hours).
    used = cut.used
    hour = np.floor(hist.local_hour[:used]).astype(np.int64)
    cell = hist.weekday[:used].astype(np.int64) * 24 + hour
    begin = win.weekday * 86_400 + np.round(win.start_hour * 3600.0).astype(np.int64)
    end = begin + np.round(win.hours * 3600.0).astype(np.int64)
    first = begin // 3600
    span = np.minimum(-(-end // 3600) - first, 168)
    if cut.before is None:
        # Every window sees the same attempts: count them per cell once; a window's cells
        # [first, first + span) that run past Sunday 24:00 continue on Monday 00:00.
        cum = np.zeros((2, 169))
        cum[0, 1:] = np.cumsum(np.bincount(cell, minlength=168))
        cum[1, 1:] = np.cumsum(np.bincount(cell, cut.y, minlength=168))
        stop = first + span
        wraps = stop > 168
        n, s = cum[:, stop - 168 * wraps] - cum[:, first] + cum[:, 168:] * wraps
        return (s + m * r_c) / (n + m)
    x = cell[None, :] - first[:, None]
    x += 168 * (x < 0)  # the circular offset of the cell from the window's first hour
    covered = (x < span[:, None]) & cut.before
    n = np.count_nonzero(covered, axis=1)
    s = np.count_nonzero(covered & hist.delivered[None, :used], axis=1)
    return (s + m * r_c) / (n + m)


def _decay_factors(at: np.ndarray, start: np.ndarray, half_life_s: float) -> tuple[np.ndarray, ...]:
    """a, b with a_i·b_j = 0.5^((start_i − at_j) / half-life), the decay weight.

    The outer product is never formed: sums of w·x become a_i · Σ_j b_j·x_j, one exponential
    per window and per attempt instead of one per cell. ``_blocks`` keeps a ≤ 2^200; an
    attempt so old that b underflows has a weight below 2^-800 anyway.
    """
    ref = int(start.max())
    return np.exp2((ref - start) / half_life_s), np.exp2((at - ref) / half_life_s)


def _hour_kernel(hist: History, cut: _Cut, win: _Win, sigma: float) -> np.ndarray:
    """exp(−d²/2σ²), d the circular hour distance to [start_hour, start_hour + hours).

    On a 24-hour circle the distance to an interval is the distance to its centre less its
    half-length (0 inside); a window of 24 hours or more covers every hour.
    """
    half = np.minimum(win.hours, 24.0) / 2.0
    centre = np.mod(win.start_hour + half, 24.0)
    d = np.abs(hist.local_hour[None, : cut.used] - centre[:, None])
    np.minimum(d, 24.0 - d, out=d)
    d -= half[:, None]
    np.maximum(d, 0.0, out=d)
    np.square(d, out=d)
    d *= -0.5 / (sigma * sigma)
    kernel = np.exp(d, out=d)
    if cut.before is not None:
        kernel *= cut.before
    return kernel


def _same_day(hist: History, cut: _Cut, win: _Win) -> tuple[np.ndarray, np.ndarray]:
    """Earlier attempts on the window's local day: (count, delivered count)."""
    days = hist.local_day[: cut.used]
    if np.all(days[1:] >= days[:-1]):
        # Local dates rise with time (true except in a zone that falls back over
        # midnight), so the same-day attempts are a run ending just before the window.
        lo = np.minimum(np.searchsorted(days, win.local_day, side="left"), cut.idx)
        return cut.idx - lo, cut.cum_y[cut.idx] - cut.cum_y[lo]
    same = days[None, :] == win.local_day[:, None]
    if cut.before is not None:
        same &= cut.before
    return np.count_nonzero(same, axis=1), same.astype(np.float64) @ cut.y


def _block(hist: History, win: _Win, params: HistoryParams) -> np.ndarray:
    m, g = params.shrink, params.prior
    cut = _cut(hist, win.start)
    idx, used, y = cut.idx, cut.used, cut.y
    out = np.empty((win.start.shape[0], len(HISTORY_FEATURES)), dtype=np.float64)
    out[:, 0] = idx
    out[:, 6] = _base_rate(hist, cut, win, params)
    if used == 0:
        out[:, [1, 2, 3, 11]] = g
        out[:, [4, 5, 9, 10]] = 0.0
        out[:, 7] = NO_HISTORY_DAYS
        out[:, 8] = -1.0
        return out

    a, b = _decay_factors(hist.at[:used], win.start, params.decay_half_life_days * DAY_SECONDS)
    sum_w = a * np.concatenate(([0.0], np.cumsum(b)))[idx]
    sum_wy = a * np.concatenate(([0.0], np.cumsum(b * y)))[idx]
    rate_c = (sum_wy + m * g) / (sum_w + m)

    # Σ_j w·k·[weekday_j = d]·(1, y_j) for each weekday d in one product: columns 0–6
    # carry b_j, columns 7–13 carry b_j·y_j, each in the attempt's weekday column.
    kernel = _hour_kernel(hist, cut, win, params.hour_kernel_sigma)
    by_day = np.zeros((used, 14))
    rows, days = np.arange(used), hist.weekday[:used]
    by_day[rows, days] = b
    by_day[rows, days + 7] = b * y
    sums = (kernel @ by_day) * a[:, None]
    here, weekend = np.arange(win.start.shape[0]), (win.weekday >= 5).astype(np.int64)
    n_dow, s_dow = sums[here, win.weekday], sums[here, win.weekday + 7]
    by_type = sums @ _DAY_TYPES
    n_dt, s_dt = by_type[here, weekend], by_type[here, weekend + 2]
    rate_dt = (s_dt + m * rate_c) / (n_dt + m)
    out[:, 1], out[:, 2] = rate_c, rate_dt
    out[:, 3] = (s_dow + m * rate_dt) / (n_dow + m)
    out[:, 4], out[:, 5] = n_dt, n_dow

    has, last = idx > 0, np.maximum(idx - 1, 0)
    gap = (win.start - hist.at[last]) / DAY_SECONDS
    out[:, 7] = np.where(has, np.minimum(gap, NO_HISTORY_DAYS), NO_HISTORY_DAYS)
    out[:, 8] = np.where(has, hist.delivered[last], -1.0)
    n_same, delivered_same = _same_day(hist, cut, win)
    out[:, 9], out[:, 10] = n_same - delivered_same, delivered_same
    lo = np.minimum(np.searchsorted(hist.at, win.start - RECENT_DAYS * DAY_SECONDS), idx)
    out[:, 11] = (cut.cum_y[idx] - cut.cum_y[lo] + m * rate_c) / (idx - lo + m)
    return out


def _run(hist: History, win: _Win, params: HistoryParams, fn: Any, width: int) -> np.ndarray:
    groups = _blocks(hist, win, params.decay_half_life_days * DAY_SECONDS)
    if groups is None:
        return fn(hist, win, params)
    out = np.empty((win.start.shape[0], width) if width else win.start.shape[0])
    for rows in groups:
        out[rows] = fn(hist, win.take(rows), params)
    return out


def history_features(
    hist: History,
    *,
    start: np.ndarray,
    start_hour: np.ndarray,
    hours: np.ndarray,
    weekday: np.ndarray,
    local_day: np.ndarray,
    params: HistoryParams,
) -> np.ndarray:
    """(n_windows, len(HISTORY_FEATURES)) float64, each row from the attempts before it.

    ``start`` is the window's UTC start (epoch seconds), ``start_hour`` its local clock
    hour, ``hours`` its length, ``weekday`` and ``local_day`` those of its local start.
    Definitions (docs/delivery-plan.md §5.1): decay w = 0.5^(age/half-life), age to the
    window's start; hour kernel k = exp(−d²/2σ²), d the circular distance from the
    attempt's local hour to the window's local interval (0 inside); rates shrunk with
    weight ``shrink``: customer → prior, day type × hour (w·k) → customer, weekday × hour
    (w·k) → day type; ``n_eff_*`` are the Σ w·k used. With no earlier attempt
    ``days_since_last`` is 365 (longer gaps are capped at 365) and ``last_delivered`` −1.
    """
    win = _win(start, start_hour, hours, weekday, local_day)
    return _run(hist, win, params, _block, len(HISTORY_FEATURES))


def base_rate(
    hist: History,
    *,
    start: np.ndarray,
    start_hour: np.ndarray,
    hours: np.ndarray,
    weekday: np.ndarray,
    local_day: np.ndarray,
    params: HistoryParams,
) -> np.ndarray:
    """The history-only baseline, (n,) float64: ``(s + m·r_c) / (n + m)``.

    s/n count the customer's earlier attempts (no decay, no kernel) on the weekday and
    local clock hours the window covers; r_c = (s_c + m·g) / (n_c + m) over all earlier
    attempts; m = ``shrink`` (2) and g = ``prior``. ``local_day`` is accepted so the
    signature matches ``history_features``; it does not enter.
    """
    win = _win(start, start_hour, hours, weekday, local_day)
    return _run(hist, win, params, lambda h, w, p: _base_rate(h, _cut(h, w.start), w, p), 0)
