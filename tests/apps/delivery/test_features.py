"""Window features: DST grids, local descriptors, weekly preferences, calendar, the matrix."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from foresight.apps.delivery.features import (
    CALENDAR_FEATURES,
    FEATURES,
    HISTORY_FEATURES,
    WEATHER_FEATURES,
    WEEK_MINUTES,
    Windows,
    assemble,
    busy_features,
    compile_weekly,
    day_grid,
    describe,
    grid_windows,
    overlaps,
)
from foresight.platform.errors import InvalidInput

NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def grid(day: date, first: time = time(8), last: time = time(21)) -> tuple[np.ndarray, ...]:
    return day_grid(day, NEW_YORK, first=first, last=last, minutes=30)


def local_midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=NEW_YORK).timestamp())


# -- grids --------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "shift"), [(date(2025, 3, 9), -3600), (date(2025, 11, 2), 3600)])
def test_business_grid_on_dst_days_keeps_26_windows(day: date, shift: int) -> None:
    start, end = grid(day)
    prev_start, _ = grid(day - timedelta(days=1))
    assert len(start) == 26
    assert (end - start).tolist() == [1800] * 26
    # The same wall-clock times, so the UTC starts move by the hour the clocks changed.
    assert (start - (prev_start + 86_400)).tolist() == [shift] * 26
    w = describe(start, end, NEW_YORK)
    assert w.start_hour.tolist() == [8 + i / 2 for i in range(26)]
    assert set(w.weekday.tolist()) == {day.weekday()}
    assert set(w.local_day.tolist()) == {day.toordinal()}


@pytest.mark.parametrize(
    ("day", "count"), [(date(2025, 3, 9), 46), (date(2025, 11, 2), 50), (date(2025, 3, 10), 48)]
)
def test_whole_day_grid_counts_real_time(day: date, count: int) -> None:
    start, end = grid(day, first=time(0), last=time(0))
    assert len(start) == count
    assert start[0] == local_midnight(day)
    assert end[-1] == local_midnight(day + timedelta(days=1))
    assert np.all(start[1:] == end[:-1])


def test_grid_windows_are_a_shared_read_only_describe_of_the_grid() -> None:
    day = date(2025, 11, 2)
    w = grid_windows(day, NEW_YORK, first=time(0), last=time(0), minutes=30)
    expected = describe(*grid(day, first=time(0), last=time(0)), NEW_YORK)
    for name in ("start", "end", "start_hour", "hours", "weekday", "local_day"):
        assert getattr(w, name).tolist() == getattr(expected, name).tolist(), name
    assert grid_windows(day, NEW_YORK, first=time(0), last=time(0), minutes=30) is w
    with pytest.raises(ValueError, match="read-only"):
        w.start[0] = 0


def test_grid_edges_and_bad_grids() -> None:
    start, end = day_grid(date(2025, 6, 3), NEW_YORK, first=time(8), last=time(9, 10), minutes=30)
    assert len(start) == 2 and end[-1] - start[0] == 3600  # 09:00–09:10 is dropped
    # 02:30 on 9 March 2025 does not exist in New York; it reads as 03:30 EDT (07:30 UTC).
    start, _ = day_grid(date(2025, 3, 9), NEW_YORK, first=time(2, 30), last=time(4), minutes=30)
    assert start.tolist() == [1741505400]
    with pytest.raises(InvalidInput, match="after its first"):
        day_grid(date(2025, 6, 3), NEW_YORK, first=time(21), last=time(8), minutes=30)
    with pytest.raises(InvalidInput, match="minutes"):
        day_grid(date(2025, 6, 3), NEW_YORK, first=time(8), last=time(21), minutes=0)


def test_describe_matches_datetime_across_dst() -> None:
    rng = np.random.default_rng(4)
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) + rng.integers(
        0, 3 * 365 * 86_400, 3000
    )
    # Include the seconds either side of both 2025 transitions.
    edges = np.array([1741503600, 1762063200])  # 9 Mar 07:00 UTC, 2 Nov 06:00 UTC
    start = np.concatenate((start, edges - 1, edges, edges + 1))
    length = rng.integers(900, 24 * 3600, size=start.shape[0])
    w = describe(start, start + length, NEW_YORK)
    for i, t in enumerate(start.tolist()):
        local = datetime.fromtimestamp(t, NEW_YORK)
        assert w.weekday[i] == local.weekday() and w.local_day[i] == local.toordinal()
        hour = local.hour + local.minute / 60 + local.second / 3600
        assert w.start_hour[i] == pytest.approx(hour, abs=1e-12)
    assert w.hours.tolist() == pytest.approx((length / 3600).tolist())
    with pytest.raises(InvalidInput, match="end after"):
        describe(np.array([10]), np.array([10]), NEW_YORK)


# -- weekly preferences -------------------------------------------------------------------


def test_compile_weekly_overnight_wraps_and_24_00() -> None:
    friday_night = compile_weekly([{"days": ["fri"], "start": "22:00", "end": "06:00"}])
    assert (friday_night.lo.tolist(), friday_night.hi.tolist()) == (
        [4 * 1440 + 1320],
        [5 * 1440 + 360],
    )
    sunday_night = compile_weekly([{"days": ["sun"], "start": "23:00", "end": "01:30"}])
    assert sunday_night.lo.tolist() == [0, 6 * 1440 + 1380]
    assert sunday_night.hi.tolist() == [90, WEEK_MINUTES]
    evenings = compile_weekly(
        [
            SimpleNamespace(days=["MON", "tue"], start="18:00", end="24:00"),
            {"days": ["mon"], "start": "17:00", "end": "19:00"},
        ]
    )
    assert evenings.lo.tolist() == [1020, 1440 + 1080]
    assert evenings.hi.tolist() == [1440, 2880]
    until_midnight = compile_weekly([{"days": ["wed"], "start": "20:00", "end": "00:00"}])
    assert (until_midnight.lo.tolist(), until_midnight.hi.tolist()) == (
        [2 * 1440 + 1200],
        [3 * 1440],
    )
    assert len(compile_weekly([])) == 0


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"days": ["mon"], "start": "25:00", "end": "26:00"}, "start must be HH:MM"),
        ({"days": ["mon"], "start": "24:00", "end": "01:00"}, "start must be HH:MM"),
        ({"days": ["mon"], "start": "9:5", "end": "10:00"}, "start must be HH:MM"),
        ({"days": ["mon"], "start": "09:00", "end": "24:30"}, "end must be HH:MM"),
        ({"days": ["someday"], "start": "09:00", "end": "10:00"}, "unknown weekday"),
        ({"days": ["mon"], "start": "09:00"}, "needs 'end'"),
    ],
)
def test_compile_weekly_refuses_bad_windows(window: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        compile_weekly([window])


def minutes_of(windows: list[dict]) -> np.ndarray:
    """Brute force: every minute of the week a window covers."""
    covered = np.zeros(WEEK_MINUTES, dtype=bool)
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    for w in windows:
        s = int(w["start"][:2]) * 60 + int(w["start"][3:])
        e = int(w["end"][:2]) * 60 + int(w["end"][3:])
        length = e - s if e > s else e - s + 1440
        for day in w["days"]:
            for minute in range(length):
                covered[(names.index(day) * 1440 + s + minute) % WEEK_MINUTES] = True
    return covered


def test_overlaps_equals_a_minute_by_minute_check() -> None:
    rng = np.random.default_rng(9)
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    windows = []
    for _ in range(6):
        s, e = rng.integers(0, 96, size=2) * 15
        windows.append(
            {
                "days": list(rng.choice(names, size=rng.integers(1, 4), replace=False)),
                "start": f"{s // 60:02d}:{s % 60:02d}",
                "end": f"{e // 60:02d}:{e % 60:02d}" if e else "24:00",
            }
        )
    ranges = compile_weekly(windows)
    covered = minutes_of(windows)
    monday = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp())  # local = UTC here
    start = monday + rng.integers(0, WEEK_MINUTES, size=400) * 60
    length = rng.choice([15, 30, 60, 120, 240, 1440, 1500], size=400) * 60
    w = describe(start, start + length, UTC_ZONE)
    expected = [
        any(covered[(int((s - monday) // 60) + k) % WEEK_MINUTES] for k in range(int(n // 60)))
        for s, n in zip(start, length, strict=True)
    ]
    assert overlaps(ranges, w).tolist() == expected
    assert not overlaps(compile_weekly([]), w).any()
    # Across the week's end: Sunday 23:00 for two hours reaches Monday 00:00–00:30.
    early_monday = compile_weekly([{"days": ["mon"], "start": "00:00", "end": "00:30"}])
    sunday = monday + 6 * 86_400 + 23 * 3600
    across = describe(
        np.array([sunday, sunday]), np.array([sunday + 7200, sunday + 3600]), UTC_ZONE
    )
    assert overlaps(early_monday, across).tolist() == [True, False]


# -- calendar -----------------------------------------------------------------------------


def test_busy_features_equal_a_minute_by_minute_count() -> None:
    rng = np.random.default_rng(12)
    t0 = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp())
    # Disjoint busy intervals on a minute grid, some all-day.
    edges = np.sort(rng.choice(np.arange(1, 3 * 1440), size=40, replace=False))
    busy_min = edges.reshape(-1, 2)
    all_day = rng.random(len(busy_min)) < 0.3
    busy = t0 + busy_min * 60
    minute_busy = np.zeros(4 * 1440 + 200, dtype=bool)
    minute_all_day = np.zeros_like(minute_busy)
    for (s, e), flag in zip(busy_min, all_day, strict=True):
        minute_busy[s:e] = True
        minute_all_day[s:e] = flag
    start_min = rng.integers(60, 3 * 1440, size=300)
    length = rng.choice([15, 30, 60, 120, 480], size=300)
    w = describe(t0 + start_min * 60, t0 + (start_min + length) * 60, UTC_ZONE)
    got = busy_features(w, busy, all_day, known=True, near_minutes=60)
    for i, (s, n) in enumerate(zip(start_min, length, strict=True)):
        share = minute_busy[s : s + n].mean()
        near = minute_busy[s - 60 : s].any() or minute_busy[s + n : s + n + 60].any()
        assert got[i].tolist() == pytest.approx(
            [1.0, share, float(near), float(minute_all_day[s : s + n].any())]
        ), i
    assert got[:, 1].max() > 0.5 and got[:, 1].min() == 0 and got[:, 3].any() and got[:, 2].any()


def test_unknown_or_empty_calendars() -> None:
    start, end = grid(date(2025, 6, 3))
    w = describe(start, end, NEW_YORK)
    busy = np.array([[start[2], start[4]]])
    assert busy_features(w, busy, np.array([True]), known=False).tolist() == [[0.0] * 4] * 26
    empty = busy_features(w, np.zeros((0, 2), np.int64), np.zeros(0, bool), known=True)
    assert empty.tolist() == [[1.0, 0.0, 0.0, 0.0]] * 26
    with pytest.raises(InvalidInput, match="all-day flags"):
        busy_features(w, busy, np.array([True, False]), known=True)


# -- the matrix ---------------------------------------------------------------------------


def test_assemble_puts_every_block_under_its_names() -> None:
    start, end = grid(date(2025, 11, 27))  # Thanksgiving, a Thursday
    w = describe(start, end, NEW_YORK)
    n = len(w)
    rng = np.random.default_rng(1)
    history = rng.random((n, len(HISTORY_FEATURES)))
    calendar = rng.random((n, len(CALENDAR_FEATURES)))
    weather = rng.random((n, len(WEATHER_FEATURES)))
    holiday, preferred, blocked = np.ones(n), rng.random(n) < 0.5, rng.random(n) < 0.5
    m = assemble(
        w,
        holiday=holiday,
        preferred=preferred,
        blocked=blocked,
        history=history,
        calendar=calendar,
        weather=weather,
    )
    assert m.shape == (n, len(FEATURES)) == (26, 26) and len(set(FEATURES)) == len(FEATURES)
    col = {name: m[:, i] for i, name in enumerate(FEATURES)}
    assert col["start_hour"].tolist() == w.start_hour.tolist()
    assert col["window_hours"].tolist() == [0.5] * n
    assert col["weekday"].tolist() == [3] * n and col["weekend"].tolist() == [0] * n
    assert col["holiday"].tolist() == [1] * n
    assert col["preferred"].tolist() == preferred.tolist()
    assert col["blocked"].tolist() == blocked.tolist()
    for names, block in ((HISTORY_FEATURES, history), (CALENDAR_FEATURES, calendar)):
        for j, name in enumerate(names):
            assert col[name].tolist() == block[:, j].tolist(), name
    for j, name in enumerate(WEATHER_FEATURES):
        assert col[name].tolist() == weather[:, j].tolist(), name
    with pytest.raises(InvalidInput, match="weather"):
        assemble(
            w,
            holiday=holiday,
            preferred=preferred,
            blocked=blocked,
            history=history,
            calendar=calendar,
            weather=weather[:, :2],
        )


def test_windows_is_a_plain_value() -> None:
    w = Windows(
        start=np.array([0]),
        end=np.array([1800]),
        start_hour=np.array([0.0]),
        hours=np.array([0.5]),
        weekday=np.array([3], np.int8),
        local_day=np.array([719163], np.int32),
    )
    assert len(w) == 1 and not overlaps(compile_weekly([]), w).any()
