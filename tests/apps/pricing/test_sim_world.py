"""The simulator's world: rain spells with the documented share, events announced ahead
and lifting demand after they end, the same for the same seed and region."""

from __future__ import annotations

from datetime import date

import numpy as np

from foresight.apps.pricing.sim_world import (
    NOTICE_HOURS,
    RAIN_DEMAND,
    RAIN_START,
    RAIN_STOP,
    RAIN_SUPPLY,
    demand_multiplier,
    rain_hours,
    supply_multiplier,
    world_events,
)

START = date(2026, 1, 5)


def test_rain_comes_in_spells_with_the_chains_share_of_hours() -> None:
    wet = rain_hours(0, 2000, seed=1)
    assert abs(wet.mean() - RAIN_START / (RAIN_START + RAIN_STOP)) < 0.02
    starts = np.flatnonzero(np.diff(wet.astype(int)) == 1)
    assert abs(wet.sum() / len(starts) - 1 / RAIN_STOP) < 0.3  # mean spell ≈ 2.9 h
    assert (rain_hours(0, 50, seed=1) == wet[:1200]).all()  # a prefix of the same draw
    assert not (rain_hours(1, 50, seed=1) == wet[:1200]).all()  # another region differs


def test_events_are_announced_ahead_and_lift_demand_after_they_end() -> None:
    events = world_events(0, START, 56, seed=3)
    assert events == world_events(0, START, 56, seed=3) and 0 < len(events) <= 8 * 3
    assert all(e.announced == e.start - NOTICE_HOURS * 60 for e in events)
    dry = np.zeros(56 * 24, dtype=bool)
    mult = demand_multiplier(dry, events, 56)
    e = events[0]
    assert mult[e.start : e.end].max() == 1.0  # during the event: everyone is inside
    bump = mult[e.end : e.end + e.after]
    assert bump.min() > 1.0 and np.isclose(bump.max(), 1 + e.lift, atol=0.01)
    quiet = np.ones(len(mult), dtype=bool)
    for x in events:
        quiet[x.end : x.end + x.after] = False
    assert (mult[quiet] == 1.0).all()


def test_rain_moves_demand_up_and_supply_down() -> None:
    wet = np.zeros(48, dtype=bool)
    wet[30] = True
    demand, supply = demand_multiplier(wet, [], 2), supply_multiplier(wet, 2)
    assert (demand[30 * 60 : 31 * 60] == RAIN_DEMAND).all() and demand[:1800].max() == 1.0
    assert (supply[30 * 60 : 31 * 60] == RAIN_SUPPLY).all() and supply.shape == (2880,)
