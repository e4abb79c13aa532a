"""The simulator's truth is the truth: the four checks of plan §4.7.

(1) Monte Carlo from the latents against the analytic p_true, per archetype; (2) recorded
outcomes against p_true_at_slot; (3) determinism, and household 7 independent of the
household count; (4) the .ics export round-trips through ``calendars.parse_busy``.
"""

from __future__ import annotations

import doctest
import itertools
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy.stats import truncnorm

from foresight.apps.delivery import sim, sim_calendar, sim_truth
from foresight.apps.delivery.calendars import parse_busy
from foresight.apps.delivery.sim import SimConfig, SimResult, simulate
from foresight.apps.delivery.sim_routine import (
    ARCHETYPES,
    MIX,
    blocks_for_days,
    draw_routine,
    holiday_kinds,
    shift_index,
)
from foresight.platform.errors import InvalidInput

NY = ZoneInfo("America/New_York")
SMALL = SimConfig(households=120, weeks=12, seed=2026)


@pytest.fixture(scope="module")
def small() -> SimResult:
    started = time.process_time()
    result = simulate(SMALL)
    # The demo and test size must stay cheap (brief: < 5 s for 120 households × 12 weeks).
    assert time.process_time() - started < 5.0
    return result


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over equal-width bins (as the benchmark computes it)."""
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return total / len(y)


# --- the formula -------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    assert doctest.testmod(sim).failed == 0


def test_p_home_is_one_minus_pi_times_a_truncated_normal_difference() -> None:
    leave, back, sd, pi = 8.3, 17.9, 0.4, 0.8
    blocks = np.array([[[leave, sd, back, sd, pi]]])
    events = np.array([[[40, 46]]])  # 10:00–11:30, margins included
    plans = sim_truth.DayPlans(
        blocks, events, np.full((1, 96), 0.9), np.array([0.1]), np.array([False]), 0.5
    )
    t = (np.arange(96) + 0.5) / 4
    f_l = truncnorm.cdf(t, -2, 2, loc=leave, scale=sd)
    f_r = truncnorm.cdf(t, -2, 2, loc=back, scale=sd)
    routine = 1 - pi * (f_l - f_r)
    q = np.where((t >= 9) & (t < 21), 0.1, 0.0)
    event = np.where((np.arange(96) >= 40) & (np.arange(96) < 46), 0.1, 1.0)
    home = (1 - q) * routine * event + q * 0.02
    success = 1 - (1 - home * 0.9) * 0.5
    np.testing.assert_allclose(sim_truth.p_home(plans)[0], home, atol=1e-12)
    np.testing.assert_allclose(sim_truth.p_true(plans)[0], 0.02 + 0.96 * success, atol=1e-12)


def test_vacation_days_are_home_two_percent_of_the_time() -> None:
    plans = sim_truth.DayPlans(
        np.zeros((1, 0, 5)),
        np.zeros((1, 0, 2), dtype=np.int64),
        np.ones((1, 96)),
        np.array([0.0]),
        np.array([True]),
        0.0,
    )
    assert np.allclose(sim_truth.p_home(plans), 0.02)


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_blocks_of_a_day_never_overlap_even_at_their_extremes(archetype: str) -> None:
    # The exact formula sums the blocks' probabilities: it needs disjoint blocks, always.
    rng = np.random.default_rng(1)
    first = date(2025, 1, 1)
    ordinals = first.toordinal() + np.arange(400)
    kinds = holiday_kinds(first, date(2026, 2, 4))
    codes = {None: 0, "federal": 1, "school": 2}
    holidays = np.array([codes[kinds.get(date.fromordinal(int(o)))] for o in ordinals])
    for _ in range(30):
        routine = draw_routine(archetype, rng)
        b, _ = blocks_for_days(routine, ordinals, holidays)
        active = b[..., 4] > 0
        assert np.all((b[..., 0] + 2 * b[..., 1] <= b[..., 2] - 2 * b[..., 3] + 1e-9)[active])
        lo = np.where(active, b[..., 0] - 2 * b[..., 1], np.inf)
        hi = np.where(active, b[..., 2] + 2 * b[..., 3], np.inf)
        assert np.all(lo[active] >= 0) and np.all(hi[active] <= 24)
        order = np.argsort(lo, axis=1)
        lo, hi = np.take_along_axis(lo, order, 1), np.take_along_axis(hi, order, 1)
        assert np.all(hi[:, :-1] <= lo[:, 1:] + 1e-9)


def test_a_night_shift_is_never_followed_by_a_morning_shift() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        routine = draw_routine("shift_worker", rng)
        days = [date(2025, 1, 1) + timedelta(days=k) for k in range(60)]
        shifts = [shift_index(routine, d) for d in days]
        assert sum(s is None for s in shifts[:7]) == 2
        for before, after in itertools.pairwise(shifts):
            assert not (before == 2 and after == 0)


# --- check 1: Monte Carlo ----------------------------------------------------------------


def _first_of(result: SimResult, archetype: str) -> str:
    for row in result.households.itertuples():
        h = result.household(row.customer_id)
        if h.archetype == archetype and h.change_day is None:
            return row.customer_id
    raise AssertionError(f"no steady {archetype} in the sample")


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_monte_carlo_from_the_latents_matches_the_analytic_truth(
    small: SimResult, archetype: str
) -> None:
    customer_id = _first_of(small, archetype)
    days = small.household_days(customer_id, SMALL.start, 7 * SMALL.weeks)
    per_day = 20_160 // len(days.weekday)  # ≥ 20,000 household-days over every day type
    rows = np.repeat(np.arange(len(days.weekday)), per_day)
    plans = days.plans.take(rows)
    rng = np.random.default_rng(7)
    latents = sim_truth.draw_latents(plans, rng)
    n = len(rows)
    for chunk in np.array_split(np.arange(96), 4):  # observations in chunks: memory
        obs_rows, slots = np.repeat(np.arange(n), len(chunk)), np.tile(chunk, n)
        draws = sim_truth.observe(plans, latents, obs_rows, slots, rng)
        for seen, truth in ((draws.delivered, days.true), (draws.home, days.home)):
            p = truth[rows][:, chunk]
            observed = seen.reshape(n, len(chunk)).mean(axis=0)
            se = np.sqrt((p * (1 - p)).sum(axis=0)) / n
            assert np.all(np.abs(observed - p.mean(axis=0)) <= 4 * se + 1e-12), archetype


# --- check 2: outcomes against the truth -------------------------------------------------


def _check_outcomes(result: SimResult, *, ece_bound: float) -> None:
    y = result.attempts["delivered"].to_numpy(dtype=float)
    p = result.attempts["p_true_at_slot"].to_numpy()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) <= 3 * se
    assert ece(y, p) <= ece_bound


def test_outcomes_are_bernoulli_of_the_slot_truth_small(small: SimResult) -> None:
    assert len(small.attempts) > 2000
    _check_outcomes(small, ece_bound=0.05)


@pytest.mark.slow
def test_outcomes_are_bernoulli_of_the_slot_truth_on_50k_rows() -> None:
    result = simulate(SimConfig(households=800, weeks=52, seed=11))
    assert len(result.attempts) >= 50_000
    _check_outcomes(result, ece_bound=0.01)
    shares = result.households["archetype"].value_counts(normalize=True)
    for name, share in zip(ARCHETYPES, MIX, strict=True):
        assert abs(shares[name] - share) < 0.05, name
    assert 0.55 <= result.attempts["delivered"].mean() <= 0.65  # documented: ≈ 0.59


def test_window_truth_is_the_mean_of_its_slots(small: SimResult) -> None:
    sample = small.attempts.sample(60, random_state=3)
    for a in sample.itertuples():
        start, end = a.window_start.to_pydatetime(), a.window_end.to_pydatetime()
        assert small.truth(a.customer_id, start, end) == pytest.approx(a.p_true_window, abs=1e-9)
        local = a.attempted_at.to_pydatetime().astimezone(NY)
        slots = small.truth_slots(a.customer_id, local.date())
        assert slots[local.hour * 4 + local.minute // 15] == pytest.approx(a.p_true_at_slot)


def test_truth_follows_the_local_clock_over_dst_changes(small: SimResult) -> None:
    cid = small.customers.customer_id[0]
    fall = small.truth_slots(cid, date(2025, 11, 2))
    start = datetime(2025, 11, 2, 5, tzinfo=UTC)  # 01:00 EDT; 01:00–01:45 happen twice
    value = small.truth(cid, start, start + timedelta(hours=2))
    assert value == pytest.approx(fall[4:8].mean())
    spring = small.truth_slots(cid, date(2025, 3, 9))
    start = datetime(2025, 3, 9, 6, tzinfo=UTC)  # 01:00 EST, then 03:00 EDT
    value = small.truth(cid, start, start + timedelta(hours=2))
    assert value == pytest.approx(np.r_[spring[4:8], spring[12:16]].mean())


def test_truth_refuses_windows_it_cannot_answer(small: SimResult) -> None:
    cid = small.customers.customer_id[0]
    naive = datetime(2025, 2, 3, 14)
    with pytest.raises(InvalidInput, match="time zone"):
        small.truth(cid, naive, naive + timedelta(hours=1))
    odd = datetime(2025, 2, 3, 14, 5, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="15-minute"):
        small.truth(cid, odd, odd + timedelta(hours=1))
    aligned = datetime(2025, 2, 3, 14, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="no simulated customer"):
        small.truth("c-99999", aligned, aligned + timedelta(hours=1))


def test_attempts_have_the_documented_shape(small: SimResult) -> None:
    a = small.attempts
    assert a["attempted_at"].is_monotonic_increasing
    assert ((a.window_start <= a.attempted_at) & (a.attempted_at < a.window_end)).all()
    minutes = (a.window_end - a.window_start).dt.total_seconds() / 60
    assert set(minutes.unique()) <= {60, 120, 240}
    local = a.window_start.dt.tz_convert(NY)
    assert (local.dt.minute == 0).all() and local.dt.hour.between(8, 20).all()
    assert (local + (a.window_end - a.window_start)).dt.hour.le(21).all()
    assert (a.failure_reason.isna() == a.delivered).all()
    assert set(a.failure_reason.dropna()) <= {"not_home", "no_answer", "no_access", "refused"}
    joined = small.households.set_index("customer_id")["joined"]
    assert (local.dt.date >= a.customer_id.map(joined)).all()
    assert small.customers.customer_id.str.fullmatch(r"c-\d{5}").all()
    assert small.customers.address_zone.isin([f"Z{i:02d}" for i in range(1, 13)]).all()
    for text in small.customers.preferences:
        prefs = json.loads(text)
        for entry in prefs["preferred"] + prefs["blocked"]:
            assert set(entry["days"]) <= {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
            assert entry["start"] < entry["end"] and len(entry["start"]) == 5


# --- check 3: determinism ----------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    config = SimConfig(households=30, weeks=6, seed=5)
    simulate(config).write(tmp_path / "a")
    simulate(config).write(tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert {"customers.csv", "attempts.csv", "households.csv", "README.md"} <= set(a)
    assert any(name.startswith("calendars/") for name in a)
    assert a == b
    simulate(SimConfig(households=30, weeks=6, seed=6)).write(tmp_path / "c")
    assert _files(tmp_path / "c")["attempts.csv"] != a["attempts.csv"]


def test_household_7_does_not_depend_on_the_household_count() -> None:
    few = simulate(SimConfig(households=8, weeks=8, seed=9))
    many = simulate(SimConfig(households=40, weeks=8, seed=9))
    cid = "c-00008"  # index 7
    for frame in ("households", "customers", "attempts"):
        a, b = getattr(few, frame), getattr(many, frame)
        mine = a[a.customer_id == cid].reset_index(drop=True)
        assert len(mine)
        assert mine.equals(b[b.customer_id == cid].reset_index(drop=True)), frame
    assert few.export(cid) == many.export(cid)
    day = date(2025, 2, 4)
    assert np.array_equal(few.truth_slots(cid, day), many.truth_slots(cid, day))


# --- check 4: the .ics round trip --------------------------------------------------------


@pytest.fixture(scope="module")
def year() -> SimResult:
    # 48 weeks from 6 January 2025: both DST changes (9 March, 2 November) inside.
    return simulate(SimConfig(households=14, weeks=48, seed=4, join_late_share=0.0))


def _clip(busy: np.ndarray, lo: int, hi: int) -> np.ndarray:
    out = np.clip(busy, lo, hi)
    return out[out[:, 1] > out[:, 0]]


def _overlaps(busy: np.ndarray, start: int, end: int) -> bool:
    return bool(((busy[:, 0] < end) & (busy[:, 1] > start)).any())


def _covers(busy: np.ndarray, start: int, end: int) -> bool:
    return bool(((busy[:, 0] <= start) & (busy[:, 1] >= end)).any())


def _local(day: date, minute: int) -> int:
    return int(
        datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=NY).timestamp()
    )


def test_exported_calendars_round_trip_through_parse_busy(year: SimResult) -> None:
    lo = datetime(2025, 1, 6, tzinfo=NY)
    hi = datetime.combine(year.config.end, datetime.min.time(), tzinfo=NY)
    forms = set()
    for cid in year.customers.customer_id:
        data = year.export(cid)
        assert b"PRODID:-//Foresight//delivery simulator//EN" in data
        forms.add("utc" if b"X-WR-TIMEZONE:America/New_York" in data else "tzid")
        if b"X-WR-TIMEZONE" not in data:
            assert b"DTSTART;TZID=America/New_York:" in data and b"BEGIN:VTIMEZONE" in data
        parsed = parse_busy(data, tz=NY, start=lo, end=hi)
        cal = year.calendar_events(cid)
        expected = _clip(
            sim_calendar.exported_busy(cal, NY), int(lo.timestamp()), int(hi.timestamp())
        )
        assert np.array_equal(parsed.busy, expected), cid
        assert not parsed.floating_times
        whole_days = [(s, e) for s, e, all_day in sim_calendar.busy_instances(cal, NY) if all_day]
        flags = [any(s < b and e > a for s, e in whole_days) for a, b in parsed.busy]
        assert parsed.all_day.tolist() == flags
        _check_details(cal, parsed.busy, data)
    assert forms == {"tzid", "utc"}


def _check_details(cal: sim_calendar.HouseholdCalendar, busy: np.ndarray, data: bytes) -> None:
    """EXDATE, override, cancelled, forgotten and transparent events, one by one."""
    others = sim_calendar.exported_busy(cal, NY)
    for s in cal.series:
        if s.exdate is not None and not _overlaps(others, *_span(s.exdate, s.start, s.minutes)):
            assert not _overlaps(busy, *_span(s.exdate, s.start, s.minutes))
        if s.moved is not None:
            was, moved = s.moved
            assert _covers(busy, _local(moved.day, moved.start), _local(moved.day, moved.end))
            if not _overlaps(others, *_span(was, s.start, s.minutes)):
                assert not _overlaps(busy, *_span(was, s.start, s.minutes))
    c = cal.cancelled
    if not _overlaps(others, _local(c.day, c.start), _local(c.day, c.end)):
        assert not _overlaps(busy, _local(c.day, c.start), _local(c.day, c.end))
    for o in cal.one_offs:
        assert (o.uid.encode() in data) == o.exported
    for a in cal.all_day:
        if a.transparent and not _overlaps(others, _local(a.first, 0), _local(a.end, 0)):
            assert not _overlaps(busy, _local(a.first, 0), _local(a.end, 0))


def _span(day: date, start: int, minutes: int) -> tuple[int, int]:
    return _local(day, start), _local(day, start + minutes)


# Mondays and Wednesdays around the changes: 08:30 EST is 13:30 UTC, 08:30 EDT 12:30 UTC.
CLASS_DAYS = {
    date(2025, 3, 5): 13,
    date(2025, 3, 10): 12,
    date(2025, 10, 29): 12,
    date(2025, 11, 3): 13,
}


def test_a_weekly_0830_class_stays_at_0830_local_across_both_dst_changes(
    year: SimResult,
) -> None:
    checked = 0
    for cid in year.customers.customer_id:
        cal = year.calendar_events(cid)
        for s in cal.series:
            if s.summary != "Class":
                continue
            parsed = parse_busy(
                year.export(cid),
                tz=NY,
                start=datetime(2025, 2, 1, tzinfo=UTC),
                end=datetime(2025, 11, 30, tzinfo=UTC),
            ).busy
            vacations = [(a.first, a.end) for a in cal.all_day if not a.transparent]
            for day, utc_hour in CLASS_DAYS.items():
                if day.toordinal() not in s.ordinals or any(a <= day < b for a, b in vacations):
                    continue
                start = _local(day, 8 * 60 + 30)
                assert datetime.fromtimestamp(start, UTC).hour == utc_hour
                assert start in parsed[:, 0], (cid, day)
                assert _covers(parsed, start, start + 90 * 60)
                checked += 1
    assert checked >= 4
