"""History features: hand-computed values, point-in-time cut-offs, and a slow loop reference."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from foresight.apps.delivery import history as history_module
from foresight.apps.delivery.history import (
    HISTORY_FEATURES,
    NO_HISTORY_DAYS,
    History,
    HistoryParams,
    base_rate,
    history_features,
    local_parts,
)
from foresight.platform.errors import InvalidInput

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
DAY = 86_400
COL = {name: i for i, name in enumerate(HISTORY_FEATURES)}


def ts(*args: int, tz: ZoneInfo = UTC_ZONE) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp())  # type: ignore[misc]


def window_of(start: int, hours: float, tz: ZoneInfo) -> dict[str, np.ndarray]:
    """A window's keyword arguments, its local parts computed with datetime."""
    local = datetime.fromtimestamp(start, tz)
    return {
        "start": np.array([start]),
        "start_hour": np.array([local.hour + local.minute / 60 + local.second / 3600]),
        "hours": np.array([hours]),
        "weekday": np.array([local.weekday()]),
        "local_day": np.array([local.toordinal()]),
    }


def features_of(hist: History, start: int, hours: float, tz: ZoneInfo = UTC_ZONE) -> dict:
    row = history_features(hist, **window_of(start, hours, tz), params=HistoryParams())[0]
    return dict(zip(HISTORY_FEATURES, row.tolist(), strict=True))


# -- three attempts, by hand --------------------------------------------------------------

# The window: Tuesday 3 June 2025, 14:00–16:00 UTC.
WINDOW = ts(2025, 6, 3, 14)
A = ts(2025, 2, 3, 14)  # Monday, 120 days earlier (w = 1/2), inside the hours (k = 1), delivered
B = ts(2025, 5, 27, 17)  # Tuesday, 6.875 days earlier, 1 h after the window (k = e^-0.5), failed
C = ts(2025, 5, 31, 10)  # Saturday, 3 days 4 h earlier, 4 h before it (k = e^-8), delivered


def three() -> History:
    return History.from_times(np.array([C, A, B]), np.array([True, True, False]), UTC_ZONE)


def test_three_attempts_shrinkage_decay_and_kernel_by_hand() -> None:
    f = features_of(three(), WINDOW, 2.0)
    w_a, w_b, w_c = 0.5, 0.5 ** (6.875 / 120), 0.5 ** ((3 + 4 / 24) / 120)
    k_b = math.exp(-0.5)
    g = 0.7
    rate_c = (w_a + w_c + 2 * g) / (w_a + w_b + w_c + 2)
    n_dt = w_a * 1.0 + w_b * k_b  # Monday and Tuesday are weekdays; Saturday is not
    rate_dt = (w_a + 2 * rate_c) / (n_dt + 2)
    n_dow = w_b * k_b  # only B was on a Tuesday
    rate_dow = (0.0 + 2 * rate_dt) / (n_dow + 2)
    assert f["n_attempts"] == 3
    assert f["rate_customer"] == pytest.approx(rate_c, rel=1e-13)
    assert f["rate_daytype_hour"] == pytest.approx(rate_dt, rel=1e-13)
    assert f["rate_dow_hour"] == pytest.approx(rate_dow, rel=1e-13)
    assert f["n_eff_daytype_hour"] == pytest.approx(n_dt, rel=1e-13)
    assert f["n_eff_dow_hour"] == pytest.approx(n_dow, rel=1e-13)
    # The last attempt was C, delivered, 3 days 4 hours before; B and C are within 28 days.
    assert f["days_since_last"] == pytest.approx(3 + 4 / 24, rel=1e-13)
    assert f["last_delivered"] == 1
    assert f["rate_28d"] == pytest.approx((1 + 2 * rate_c) / (2 + 2), rel=1e-13)
    assert (f["fails_same_day"], f["delivered_same_day"]) == (0, 0)
    # No earlier Tuesday attempt at 14:00 or 15:00: base_rate is r_c = (2 + 2·0.7) / (3 + 2).
    assert f["base_rate"] == pytest.approx(3.4 / 5, rel=1e-13)


def test_base_rate_by_hand() -> None:
    hist = three()
    r_c = (2 + 2 * 0.7) / (3 + 2)
    # Tuesday 16:00–18:00 covers B's hour (17): 0 of 1 delivered.
    later = window_of(ts(2025, 6, 3, 16), 2.0, UTC_ZONE)
    assert base_rate(hist, **later, params=HistoryParams())[0] == pytest.approx((0 + 2 * r_c) / 3)
    # 16:30–17:00 touches hour 16 only; 16:30–17:30 touches 16 and 17.
    half = window_of(ts(2025, 6, 3, 16, 30), 0.5, UTC_ZONE)
    assert base_rate(hist, **half, params=HistoryParams())[0] == pytest.approx(r_c)
    hour = window_of(ts(2025, 6, 3, 16, 30), 1.0, UTC_ZONE)
    assert base_rate(hist, **hour, params=HistoryParams())[0] == pytest.approx(2 * r_c / 3)
    # A Monday window at 14:00 sees A (delivered): (1 + 2·r_c) / 3; the column agrees.
    monday = window_of(ts(2025, 6, 2, 14), 1.0, UTC_ZONE)
    expected = (1 + 2 * r_c) / 3
    assert base_rate(hist, **monday, params=HistoryParams())[0] == pytest.approx(expected)
    assert features_of(hist, ts(2025, 6, 2, 14), 1.0)["base_rate"] == pytest.approx(expected)


def test_the_hour_kernel_is_circular() -> None:
    # A failure at 01:00 Sunday against a Sunday 23:00–24:00 window: distance 1 h, not 22 h.
    hist = History.from_times(np.array([ts(2025, 6, 1, 1)]), np.array([False]), UTC_ZONE)
    f = features_of(hist, ts(2025, 6, 1, 23), 1.0)
    w = 0.5 ** ((22 / 24) / 120)
    assert f["n_eff_dow_hour"] == pytest.approx(w * math.exp(-0.5), rel=1e-13)
    # A 24-hour window covers every hour: the kernel is 1.
    f = features_of(hist, ts(2025, 6, 1, 12), 24.0)
    assert f["n_eff_dow_hour"] == pytest.approx(0.5 ** ((11 / 24) / 120), rel=1e-13)


def test_same_day_counts_only_earlier_attempts_of_that_local_day() -> None:
    hist = three()
    assert features_of(hist, C, 1.0)["delivered_same_day"] == 0  # at == start is not before
    f = features_of(hist, ts(2025, 5, 31, 12), 1.0)
    assert (f["fails_same_day"], f["delivered_same_day"]) == (0, 1)
    assert f["days_since_last"] == pytest.approx(2 / 24)
    f = features_of(hist, ts(2025, 5, 27, 18), 1.0)
    assert (f["fails_same_day"], f["delivered_same_day"], f["last_delivered"]) == (1, 0, 0)


def test_empty_history_gives_the_priors() -> None:
    params = HistoryParams(prior=0.64)
    start = np.array([WINDOW, WINDOW + 3600])
    kwargs = {"start_hour": [14.0, 15.0], "hours": [1.0, 2.0], "weekday": [1, 1]}
    rows = history_features(History.empty(), start=start, local_day=[0, 0], params=params, **kwargs)
    expected = {name: 0.64 for name in HISTORY_FEATURES if "rate" in name}
    expected.update(n_attempts=0, n_eff_daytype_hour=0, n_eff_dow_hour=0, fails_same_day=0)
    expected.update(delivered_same_day=0, days_since_last=NO_HISTORY_DAYS, last_delivered=-1)
    for name, value in expected.items():
        assert rows[:, COL[name]].tolist() == pytest.approx([value, value]), name
    assert not np.isnan(rows).any()


def test_bad_parameters_and_shapes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="hour_kernel_sigma"):
        HistoryParams(hour_kernel_sigma=0.0)
    with pytest.raises(InvalidInput, match="prior"):
        HistoryParams(prior=1.5)
    with pytest.raises(InvalidInput, match="outcomes"):
        History.from_times(np.array([1, 2]), np.array([True]), UTC_ZONE)
    with pytest.raises(InvalidInput, match="differ in length"):
        history_features(
            three(),
            start=[WINDOW],
            start_hour=[14.0, 15.0],
            hours=[1.0],
            weekday=[1],
            local_day=[0],
            params=HistoryParams(),
        )


# -- a slow, obvious reference ------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    at: int
    hour: float
    weekday: int
    day: int
    y: int


def rows_of(at: np.ndarray, delivered: np.ndarray, tz: ZoneInfo) -> list[Row]:
    rows = []
    for t, y in zip(at.tolist(), delivered.tolist(), strict=True):
        local = datetime.fromtimestamp(t, UTC).astimezone(tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        rows.append(Row(t, hour, local.weekday(), local.toordinal(), int(y)))
    return sorted(rows, key=lambda r: (r.at, r.y))


def reference(rows: list[Row], window: tuple, p: HistoryParams) -> list[float]:
    """One window, one attempt at a time, straight from docs/delivery-plan.md §5.1."""
    start, start_hour, hours, weekday, day = window
    g, m = p.prior, p.shrink
    seen = [r for r in rows if r.at < start]
    sw = swy = n_dt = s_dt = n_dow = s_dow = 0.0
    n_base = s_base = 0
    for r in seen:
        w = 0.5 ** ((start - r.at) / DAY / p.decay_half_life_days)
        x = (r.hour - start_hour) % 24
        d = 0.0 if x < hours else min(x - hours, 24 - x)
        k = math.exp(-d * d / (2 * p.hour_kernel_sigma**2))
        sw, swy = sw + w, swy + w * r.y
        if (r.weekday >= 5) == (weekday >= 5):
            n_dt, s_dt = n_dt + w * k, s_dt + w * k * r.y
        if r.weekday == weekday:
            n_dow, s_dow = n_dow + w * k, s_dow + w * k * r.y
        # base_rate: the attempt's hour-of-week cell [c, c + 1) meets the window's hours.
        cell, begin = r.weekday * 24 + math.floor(r.hour), weekday * 24 + start_hour
        if any(cell + q < begin + hours and cell + q + 1 > begin for q in (-168, 0, 168)):
            n_base, s_base = n_base + 1, s_base + r.y
    rate_c = (swy + m * g) / (sw + m)
    rate_dt = (s_dt + m * rate_c) / (n_dt + m)
    rate_dow = (s_dow + m * rate_dt) / (n_dow + m)
    r_c = (sum(r.y for r in seen) + m * g) / (len(seen) + m)
    last = seen[-1] if seen else None
    same = [r for r in seen if r.day == day]
    recent = [r for r in seen if start - r.at <= 28 * DAY]
    return [
        len(seen),
        rate_c,
        rate_dt,
        rate_dow,
        n_dt,
        n_dow,
        (s_base + m * r_c) / (n_base + m),
        min((start - last.at) / DAY, 365.0) if last else 365.0,
        float(last.y) if last else -1.0,
        sum(1 for r in same if not r.y),
        sum(1 for r in same if r.y),
        (sum(r.y for r in recent) + m * rate_c) / (len(recent) + m),
    ]


def random_case(seed: int, n_attempts: int = 200, n_windows: int = 300) -> tuple:
    rng = np.random.default_rng(seed)
    t0 = ts(2024, 10, 1, tz=NEW_YORK)
    at = t0 + rng.integers(0, 400 * DAY, size=n_attempts)
    at[:5] = at[5]  # ties, with both outcomes
    delivered = rng.random(n_attempts) < 0.7
    delivered[:2] = [True, False]
    starts = t0 + rng.integers(-10 * DAY, 420 * DAY, size=n_windows)
    starts[:20] = at[rng.integers(0, n_attempts, 20)]  # windows starting exactly at an attempt
    starts[20:30] = (starts[20:30] // 1800) * 1800
    hours = rng.choice([0.25, 0.5, 1.0, 2.0, 4.0, 24.0, 30.0], size=n_windows)
    local = [datetime.fromtimestamp(int(s), NEW_YORK) for s in starts]
    windows = {
        "start": starts,
        "start_hour": np.array([d.hour + d.minute / 60 + d.second / 3600 for d in local]),
        "hours": hours,
        "weekday": np.array([d.weekday() for d in local]),
        "local_day": np.array([d.toordinal() for d in local]),
    }
    return at, delivered, windows


def reference_matrix(rows: list[Row], windows: dict, params: HistoryParams) -> np.ndarray:
    keys = ("start", "start_hour", "hours", "weekday", "local_day")
    columns = [windows[k].tolist() for k in keys]
    return np.array([reference(rows, window, params) for window in zip(*columns, strict=True)])


@pytest.mark.parametrize(
    "params",
    [HistoryParams(), HistoryParams(decay_half_life_days=30, hour_kernel_sigma=0.5, prior=0.6)],
)
def test_vectorised_equals_a_per_window_loop(params: HistoryParams) -> None:
    at, delivered, windows = random_case(seed=11)
    hist = History.from_times(at, delivered, NEW_YORK)
    got = history_features(hist, **windows, params=params)
    expected = reference_matrix(rows_of(at, delivered, NEW_YORK), windows, params)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        base_rate(hist, **windows, params=params), expected[:, COL["base_rate"]], rtol=1e-12
    )


def test_blocks_of_a_big_call_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 6-hour half-life over 430 days of windows (1,720 half-lives; 2^1720 overflows)
    # forces the split that keeps the factored decay in range; a tiny cell budget forces
    # chunks of rows too.
    at, delivered, windows = random_case(seed=5)
    params = HistoryParams(decay_half_life_days=0.25)
    hist = History.from_times(at, delivered, NEW_YORK)
    expected = reference_matrix(rows_of(at, delivered, NEW_YORK), windows, params)
    np.testing.assert_allclose(
        history_features(hist, **windows, params=params), expected, rtol=1e-12, atol=1e-12
    )
    monkeypatch.setattr(history_module, "_MAX_CELLS", 1000)
    chunked = history_features(hist, **windows, params=HistoryParams())
    monkeypatch.undo()
    whole = history_features(hist, **windows, params=HistoryParams())
    np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=1e-13)


def test_same_day_when_local_dates_are_not_monotone() -> None:
    # A zone falling back over midnight dates a later attempt on the previous day; History
    # built by hand exercises the path that does not assume rising dates.
    hist = History(
        at=np.array([100, 200, 300, 400]) + 10 * DAY,
        local_hour=np.array([23.5, 0.2, 23.2, 0.5]),
        weekday=np.array([2, 3, 2, 3], np.int8),
        local_day=np.array([10, 11, 10, 11], np.int32),
        delivered=np.array([True, False, True, False]),
    )
    kwargs = {"start_hour": [0.9], "hours": [1.0], "weekday": [3], "local_day": [11]}
    rows = history_features(hist, start=[500 + 10 * DAY], params=HistoryParams(), **kwargs)
    assert (rows[0, COL["fails_same_day"]], rows[0, COL["delivered_same_day"]]) == (2, 0)


# -- point in time ------------------------------------------------------------------------


def test_corrupting_outcomes_at_or_after_t_changes_no_earlier_window() -> None:
    at, delivered, windows = random_case(seed=3)
    hist = History.from_times(at, delivered, NEW_YORK)
    cutoff = int(np.sort(at)[120])
    corrupted = History.from_times(at, np.where(at >= cutoff, ~delivered, delivered), NEW_YORK)
    early = windows["start"] <= cutoff
    assert early.sum() > 50 and (~early).sum() > 50
    params = HistoryParams()
    before = history_features(hist, **windows, params=params)
    after = history_features(corrupted, **windows, params=params)
    np.testing.assert_array_equal(after[early], before[early])
    # Only the early windows in a call of their own: the same rows again (the factored
    # decay is taken from another reference time, hence rounding-level differences).
    only_early = {k: v[early] for k, v in windows.items()}
    np.testing.assert_allclose(
        history_features(corrupted, **only_early, params=params), before[early], rtol=1e-12
    )
    # The corruption is real: later windows see it.
    assert not np.allclose(after[~early], before[~early])


def test_each_window_has_its_own_cutoff_inside_one_call() -> None:
    at, delivered, windows = random_case(seed=8, n_windows=60)
    hist = History.from_times(at, delivered, NEW_YORK)
    together = history_features(hist, **windows, params=HistoryParams())
    for i in range(60):
        alone = history_features(
            hist, **{k: v[i : i + 1] for k, v in windows.items()}, params=HistoryParams()
        )
        np.testing.assert_allclose(together[i], alone[0], rtol=1e-12, atol=1e-12)
    expected = [(at < s).sum() for s in windows["start"]]
    assert together[:, COL["n_attempts"]].tolist() == expected


def test_history_is_sorted_with_local_parts_across_dst() -> None:
    # 9 March 2025 06:30 UTC is 01:30 EST; 07:30 UTC is 03:30 EDT (the clock skipped 02:00).
    at = np.array([ts(2025, 3, 9, 7, 30), ts(2025, 3, 9, 6, 30), ts(2025, 11, 2, 6, 30)])
    hist = History.from_times(at, np.array([True, False, True]), NEW_YORK)
    assert hist.at.tolist() == sorted(at.tolist())
    assert hist.local_hour.tolist() == [1.5, 3.5, 1.5]  # 2 Nov 06:30 UTC is 01:30 EST
    assert hist.weekday.tolist() == [6, 6, 6]
    assert hist.delivered.tolist() == [False, True, True]
    # Ties are ordered failures first whatever the input order, so "last" is stable.
    tied = np.array([ts(2025, 6, 1, 9)] * 3)
    for outcomes in ([True, False, False], [False, False, True]):
        hist = History.from_times(tied, np.array(outcomes), UTC_ZONE)
        assert hist.delivered.tolist() == [False, False, True]
        assert features_of(hist, ts(2025, 6, 1, 10), 1.0)["last_delivered"] == 1
    rng = np.random.default_rng(2)
    many = ts(2024, 1, 1) + rng.integers(0, 3 * 365 * DAY, size=2000)
    hour, weekday, day = local_parts(many, NEW_YORK)
    for t, h, wd, d in zip(many.tolist(), hour, weekday, day, strict=True):
        local = datetime.fromtimestamp(t, NEW_YORK)
        assert (wd, d) == (local.weekday(), local.toordinal())
        assert h == pytest.approx(local.hour + local.minute / 60 + local.second / 3600, abs=1e-12)
