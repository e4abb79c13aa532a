"""Pure: a region's demand features at each closed minute, defined once for serving
(``step``, one minute at a time in the consumer) and for history (``backfill``, a whole
frame of minutes at once, for imports and the demo). ``test_features.py`` checks that
both give the same rows, bit for bit.

At the close of the minute starting at ``m`` (UTC), from closed one-minute windows only:

- ``searches_1m``, and over the 5 minutes ending with ``m`` ``searches_5m``,
  ``bookings_5m``, ``cancels_5m``, ``cancel_rate_5m`` (cancels per booking, 0 with none)
  and over 15 minutes ``searches_15m``;
- ``supply_available`` and ``utilisation`` (busy / (busy + available)) from the window's
  supply snapshot (None before the region's first);
- ``rolling_avg_7d``: mean searches per 5 minutes over the last 7 days (or since the
  region's first minute, if that is later); ``seasonality_score``: the mean at this hour
  of day over that span against the overall mean (1 without history at this hour);
  ``trend``: ``searches_15m`` against what the span predicts for these 15 minutes, minus 1;
- ``minute_of_day`` and ``dow`` (UTC).

Sums are integers and every ratio is one division at the end, so the two paths agree
exactly. A minute without any event has no window and no row, but counts as zero.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MINUTE_MS = 60_000
SPAN = 7 * 24 * 60  # minutes in the rolling history
FEATURES = (
    "searches_1m",
    "searches_5m",
    "bookings_5m",
    "cancels_5m",
    "cancel_rate_5m",
    "searches_15m",
    "supply_available",
    "utilisation",
    "rolling_avg_7d",
    "seasonality_score",
    "trend",
    "minute_of_day",
    "dow",
)


@dataclass(frozen=True, slots=True)
class Minute:
    """One closed one-minute window of a region (``minute``: epoch minutes)."""

    minute: int
    searches: int
    bookings: int
    cancels: int
    available: int | None = None
    busy: int | None = None


def _minutes_by_hour(lo: int, hi: int) -> np.ndarray:
    """How many of the minutes ``lo..hi`` (inclusive, epoch minutes) fall in each UTC
    hour of the day, ``(24,)`` int64."""
    if hi < lo:
        return np.zeros(24, dtype=np.int64)
    days, rest = divmod(hi - lo + 1, 1440)
    start = (lo + days * 1440) % 1440
    # The partial day, by hour, in closed form: each hour's overlap with [start, start+rest)
    # on the circle of 1440 minutes (at most two arcs).
    counts = np.full(24, days * 60, dtype=np.int64)
    edges = np.arange(24) * 60
    for a, b in ((start, min(start + rest, 1440)), (0, max(0, start + rest - 1440))):
        counts += np.clip(np.minimum(edges + 60, b) - np.maximum(edges, a), 0, None)
    return counts


def _row(
    m: Minute,
    sums: tuple[int, int, int, int, int],
    total: int,
    at_hour: int,
    first: int,
    supply: tuple[int, int] | None,
) -> dict[str, Any]:
    s1, s5, b5, c5, s15 = sums
    lo = max(first, m.minute - SPAN + 1)
    span = m.minute - lo + 1
    hour = (m.minute % 1440) // 60
    hour_minutes = int(_minutes_by_hour(lo, m.minute)[hour])
    per_minute = total / span
    season = (at_hour / hour_minutes) / per_minute if per_minute > 0 and hour_minutes else 1.0
    expected = per_minute * season * 15
    available, busy = supply if supply is not None else (None, None)
    on_duty = (available or 0) + (busy or 0)
    return {
        "searches_1m": s1,
        "searches_5m": s5,
        "bookings_5m": b5,
        "cancels_5m": c5,
        "cancel_rate_5m": c5 / b5 if b5 else 0.0,
        "searches_15m": s15,
        "supply_available": available,
        "utilisation": (busy or 0) / on_duty if supply is not None and on_duty else None,
        "rolling_avg_7d": per_minute * 5,
        "seasonality_score": season,
        "trend": s15 / expected - 1.0 if expected > 0 else 0.0,
        "minute_of_day": m.minute % 1440,
        "dow": int((m.minute // 1440 + 3) % 7),  # 1970-01-01 was a Thursday (3)
    }


@dataclass
class RegionState:
    """What ``step`` keeps per region: the last 7 days of minutes and running sums."""

    first: int | None = None
    recent: deque[Minute] = field(default_factory=deque)  # minutes within SPAN, in order
    total: int = 0
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    supply: tuple[int, int] | None = None

    def step(self, m: Minute) -> dict[str, Any]:
        """Add the minute that just closed (minutes arrive in order) and return its row."""
        if self.recent and m.minute <= self.recent[-1].minute:
            raise ValueError(f"minute {m.minute} is not after {self.recent[-1].minute}")
        self.first = m.minute if self.first is None else self.first
        self.recent.append(m)
        self.total += m.searches
        self.by_hour[(m.minute % 1440) // 60] += m.searches
        while self.recent[0].minute <= m.minute - SPAN:
            old = self.recent.popleft()
            self.total -= old.searches
            self.by_hour[(old.minute % 1440) // 60] -= old.searches
        if m.available is not None:
            self.supply = (m.available, m.busy or 0)

        def window(n: int, attr: str) -> int:
            total = 0
            for x in reversed(self.recent):  # newest first: stop at the window's start
                if x.minute <= m.minute - n:
                    break
                total += getattr(x, attr)
            return total

        sums = (
            m.searches,
            window(5, "searches"),
            window(5, "bookings"),
            window(5, "cancels"),
            window(15, "searches"),
        )
        hour = (m.minute % 1440) // 60
        return _row(m, sums, self.total, self.by_hour[hour], self.first, self.supply)


def backfill(minutes: pd.DataFrame) -> pd.DataFrame:
    """Rows for every minute of ``minutes`` (one region: columns ``minute, searches,
    bookings, cancels, available, busy``), the same as ``step`` would give in order."""
    if minutes.empty:
        return pd.DataFrame(columns=["minute", *FEATURES])
    frame = minutes.sort_values("minute").reset_index(drop=True)
    first, last = int(frame["minute"].iloc[0]), int(frame["minute"].iloc[-1])
    dense = np.zeros((last - first + 1, 3), dtype=np.int64)
    offset = frame["minute"].to_numpy(np.int64) - first
    dense[offset] = frame[["searches", "bookings", "cancels"]].to_numpy(np.int64)
    cum = np.vstack([np.zeros((1, 3), np.int64), np.cumsum(dense, axis=0)])

    def trailing(n: int, col: int) -> np.ndarray:
        return cum[offset + 1, col] - cum[np.maximum(offset + 1 - n, 0), col]

    s5, b5, c5 = trailing(5, 0), trailing(5, 1), trailing(5, 2)
    s15, total = trailing(15, 0), trailing(SPAN, 0)
    hours = ((np.arange(first, last + 1) % 1440) // 60).astype(np.int64)
    by_hour = np.zeros((len(dense) + 1, 24), dtype=np.int64)
    np.add.at(by_hour[1:], (np.arange(len(dense)), hours), dense[:, 0])
    by_hour = np.cumsum(by_hour, axis=0)
    hour_now = hours[offset]
    at_hour = by_hour[offset + 1, hour_now] - by_hour[np.maximum(offset + 1 - SPAN, 0), hour_now]
    supply: tuple[int, int] | None = None
    rows = []
    for i, rec in enumerate(frame.itertuples(index=False)):
        available = None if pd.isna(rec.available) else int(rec.available)
        if available is not None:
            busy = 0 if pd.isna(rec.busy) else int(rec.busy)
            supply = (available, busy)
        m = Minute(int(rec.minute), int(rec.searches), int(rec.bookings), int(rec.cancels))
        sums = (m.searches, int(s5[i]), int(b5[i]), int(c5[i]), int(s15[i]))
        rows.append(
            {"minute": m.minute, **_row(m, sums, int(total[i]), int(at_hour[i]), first, supply)}
        )
    return pd.DataFrame(rows, columns=["minute", *FEATURES])
