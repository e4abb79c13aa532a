"""The simulator's demand curve: real weekday shapes from bank_calls, the frozen night and
weekend constants, regions that scale and shift it, the same for the same seed."""

from __future__ import annotations

from datetime import date

import numpy as np

from foresight.apps.pricing.sim_demand import (
    NIGHT_FLOOR,
    NIGHT_LOW,
    OPEN,
    SLOTS,
    base_curve,
    draw_regions,
    intensity,
    weekday_slots,
)

MONDAY = date(2026, 1, 5)


def test_the_data_gives_170_whole_weekdays() -> None:
    table = weekday_slots()
    assert table.shape == (170, SLOTS) and np.isfinite(table).all() and table.min() > 0
    # 2003-04-04 (a Friday, row 24) is missing from the data: the mean of its neighbours.
    assert np.allclose(table[24], table[[19, 29]].mean(axis=0))


def test_a_weekday_follows_the_data_and_nights_fall_to_the_floor() -> None:
    curve = base_curve(MONDAY, 7).reshape(7, 1440)
    monday = weekday_slots()[0]
    assert np.allclose(curve[0, OPEN : OPEN + 5], monday[0] / 5)  # 07:00-07:05, per minute
    day_mean = curve[1, OPEN : OPEN + SLOTS * 5].mean()
    assert abs(curve[1, NIGHT_LOW] - NIGHT_FLOOR * day_mean) < 0.25 * NIGHT_FLOOR * day_mean
    assert curve.min() > 0 and np.abs(np.diff(curve.ravel())).max() < 0.5 * curve.max()


def test_weekends_are_lower_and_later() -> None:
    curve = base_curve(MONDAY, 7).reshape(7, 1440)
    weekday_total = curve[:5, OPEN : OPEN + SLOTS * 5].sum(axis=1).mean()
    saturday = curve[5, OPEN + 90 : OPEN + 90 + SLOTS * 5].sum()
    sunday = curve[6, OPEN + 90 : OPEN + 90 + SLOTS * 5].sum()
    assert np.isclose(saturday, 0.8 * weekday_total) and np.isclose(sunday, 0.65 * weekday_total)


def test_regions_scale_and_shift_the_curve_the_same_way_for_a_seed() -> None:
    regions = draw_regions(6, seed=2026)
    assert regions == draw_regions(6, seed=2026) and regions != draw_regions(6, seed=1)
    assert all(0.3 <= r.scale <= 1.5 and -30 <= r.phase <= 30 for r in regions)
    r = regions[0]
    base, shifted = base_curve(MONDAY, 2), intensity(r, MONDAY, 2)
    assert shifted.shape == (2 * 1440,)
    noon = 12 * 60
    assert np.isclose(shifted[noon], r.scale * base[noon - r.phase])
