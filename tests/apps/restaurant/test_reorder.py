"""Inventory arithmetic against hand-computed cases (docs/restaurant-plan.md §4.11)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from scipy.stats import norm

from foresight.apps.restaurant.reorder import (
    Advice,
    Batch,
    ErrorQuantiles,
    ExpiryWarning,
    NormalRule,
    advise,
    cumulative_usage,
    days_of_cover,
    expiring,
    order_quantity,
    order_up_to,
    reorder_point,
    safety_stock,
    usage_forecast,
)
from foresight.platform.errors import InvalidInput

TODAY = date(2015, 12, 1)
ZERO_ERRORS = ErrorQuantiles(levels=(0.5, 0.95), values={k: (0.0, 0.0) for k in range(1, 8)})


def cheese_per_day(days: int = 14, pizzas: float = 10.0) -> list[float]:
    """Case 1's usage, built the way the app builds it: forecast pizzas × recipe grams."""
    item_daily = pd.DataFrame(
        {
            "item_id": "margherita",
            "day": pd.date_range(TODAY, periods=days, freq="D"),
            "quantity": pizzas,
        }
    )
    shares = pd.DataFrame({"item_id": ["margherita"], "size": ["L"], "share": [1.0]})
    recipes = pd.DataFrame(
        {"item_id": ["margherita"], "size": ["L"], "ingredient_id": ["cheese"], "quantity": [100]}
    )
    usage = usage_forecast(item_daily, shares, recipes)
    assert set(usage["ingredient_id"]) == {"cheese"}
    return usage["quantity"].tolist()


def cheese_advice(on_hand: float, **overrides: object) -> Advice:
    options: dict = {
        "ingredient_id": "cheese",
        "unit": "g",
        "batches": [Batch("b1", on_hand, TODAY + timedelta(days=30))],
        "usage_by_day": cheese_per_day(),
        "today": TODAY,
        "uncertainty": ZERO_ERRORS,
        "lead_time_days": 2,
        "review_days": 1,
        "service_level": 0.95,
    }
    options.update(overrides)
    return advise(**options)


def test_case_1_known_usage_gives_reorder_point_order_up_to_and_cover() -> None:
    usage = cheese_per_day()
    assert usage == [1000.0] * 14

    advice = cheese_advice(2500)

    assert advice.reorder_point == 2000
    assert advice.order_up_to == 3000
    assert advice.safety_stock == 0
    assert advice.reorder_now is False
    assert advice.suggested_order_qty == 0
    assert advice.days_of_cover == 2.5
    assert advice.daily_usage == 1000
    assert (advice.on_hand, advice.usable_on_hand, advice.unit) == (2500, 2500, "g")


def test_case_2_below_the_reorder_point_orders_whole_packs() -> None:
    advice = cheese_advice(1500, pack_size=1000, moq=1000)

    assert advice.reorder_now is True
    assert advice.order_up_to - advice.usable_on_hand == 1500
    assert advice.suggested_order_qty == 2000


def test_case_3_the_lead_time_error_quantile_is_the_safety_stock() -> None:
    errors = ErrorQuantiles(levels=(0.95,), values={2: (300.0,), 3: (360.0,)})

    assert safety_stock(errors, lead_days=2, service_level=0.95) == 300
    advice = cheese_advice(2500, uncertainty=errors)
    assert advice.safety_stock == 300
    assert advice.reorder_point == 2300
    assert advice.order_up_to == 3000 + 360


def test_case_4_normal_rule_safety_stock_is_z_sigma_root_l() -> None:
    rule = NormalRule(mean=1000, sd=200)

    ss = safety_stock(rule, lead_days=4, service_level=0.95)

    assert ss == pytest.approx(norm.ppf(0.95) * 200 * 2)
    assert ss == pytest.approx(657.9, abs=0.1)
    assert reorder_point([1000.0] * 7, 4, ss) == pytest.approx(4657.9, abs=0.1)
    advice = cheese_advice(9000, uncertainty=rule, lead_time_days=4)
    assert advice.safety_stock == pytest.approx(ss)
    assert advice.reorder_point == pytest.approx(4657.9, abs=0.1)


def test_case_5_stock_that_expires_unused_is_warned_about_and_not_usable() -> None:
    batches = [
        Batch("B", 2000, TODAY + timedelta(days=9)),  # day 10
        Batch("A", 800, TODAY),  # end of day 1
    ]
    usage = [500.0] * 14

    warnings = expiring(batches, usage, TODAY)

    assert warnings == [ExpiryWarning("A", TODAY, quantity=800, unusable=300)]
    advice = cheese_advice(0, batches=batches, usage_by_day=usage)
    assert advice.on_hand == 2800
    assert advice.usable_on_hand == 2500
    assert advice.days_of_cover == 5.0
    assert advice.expiring == warnings


def test_case_6_a_closed_day_extends_cover_and_adds_nothing_to_the_reorder_point() -> None:
    open_every_day = [1000.0] * 14
    closed_day_two = [1000.0, 0.0, *[1000.0] * 12]

    assert days_of_cover(2500, open_every_day) == 2.5
    assert days_of_cover(2500, closed_day_two) == 3.5
    # Stock that runs out exactly at the end of day 1 still covers the closed day after it.
    assert days_of_cover(1000, closed_day_two) == 2.0
    assert reorder_point(closed_day_two, 2, 0) == 1000
    assert order_up_to(closed_day_two, 2, 1, 0) == 2000
    # Under the rule only the open day adds uncertainty: z·σ·√1, not √2.
    advice = cheese_advice(
        2500, usage_by_day=closed_day_two, uncertainty=NormalRule(mean=1000, sd=200)
    )
    assert advice.safety_stock == pytest.approx(norm.ppf(0.95) * 200)
    assert advice.days_of_cover == 3.5


def test_case_7_no_usage_means_no_cover_no_order_and_every_batch_expires() -> None:
    batches = [
        Batch("late", 400, TODAY + timedelta(days=5)),
        Batch("early", 100, TODAY + timedelta(days=1)),
    ]

    advice = cheese_advice(0, batches=batches, usage_by_day=[0.0] * 14)

    assert advice.days_of_cover is None
    assert advice.reorder_now is False
    assert advice.suggested_order_qty == 0
    assert advice.usable_on_hand == 0
    assert [(w.batch_id, w.unusable) for w in advice.expiring] == [("early", 100), ("late", 400)]


def test_usage_weights_sizes_by_share_and_splits_evenly_without_shares() -> None:
    days = pd.date_range(TODAY, periods=2, freq="D")
    item_daily = pd.DataFrame(
        {
            "item_id": ["hawaiian", "hawaiian", "veggie", "veggie", "mystery", "mystery"],
            "day": list(days) * 3,
            "quantity": [10.0, 0.0, 4.0, 4.0, 7.0, 7.0],
        }
    )
    shares = pd.DataFrame(
        {"item_id": ["hawaiian", "hawaiian"], "size": ["S", "L"], "share": [0.5, 0.5]}
    )
    recipes = pd.DataFrame(
        {
            "item_id": ["hawaiian", "hawaiian", "hawaiian", "veggie", "veggie"],
            "size": ["S", "L", "L", "M", "L"],
            "ingredient_id": ["cheese", "cheese", "ham", "cheese", "cheese"],
            "quantity": [60.0, 100.0, 50.0, 80.0, 100.0],
        }
    )

    usage = usage_forecast(item_daily, shares, recipes).set_index(["ingredient_id", "day"])

    # cheese day 1: 10·(0.5·60 + 0.5·100) + 4·(80 + 100)/2; the item without a recipe adds 0.
    assert usage.loc[("cheese", days[0]), "quantity"] == 800 + 360
    assert usage.loc[("cheese", days[1]), "quantity"] == 360
    assert usage.loc[("ham", days[0]), "quantity"] == 10 * 0.5 * 50
    assert usage.loc[("ham", days[1]), "quantity"] == 0


@pytest.mark.parametrize(
    ("level", "position", "pack", "moq", "expected"),
    [
        (3000, 3500, 1000, 1000, 0),  # above S: nothing
        (3000, 1500, None, None, 1500),  # no pack: exactly the gap
        (3000, 2800, 500, 1200, 1500),  # MOQ 1,200 rounded up to whole packs
        (3000, 1000, 1000, None, 2000),  # exactly two packs stays two packs
    ],
)
def test_order_quantity_rounds_to_packs_and_the_moq(
    level: float, position: float, pack: float | None, moq: float | None, expected: float
) -> None:
    assert order_quantity(level, position, pack_size=pack, moq=moq) == expected


def test_error_quantiles_interpolate_levels_and_grow_with_root_days_past_the_table() -> None:
    errors = ErrorQuantiles(levels=(0.9, 0.99), values={1: (100.0, 200.0), 4: (200.0, 400.0)})

    assert errors.at(4, 0.945) == pytest.approx(300.0)
    assert errors.at(16, 0.9) == pytest.approx(400.0)  # 200·√(16/4)
    assert errors.at(0.5, 0.9) == pytest.approx(50.0)  # toward zero error at zero days
    assert errors.at(0, 0.99) == 0


def test_a_high_forecast_never_gives_negative_safety_stock() -> None:
    errors = ErrorQuantiles(levels=(0.95,), values={2: (-150.0,)})

    assert safety_stock(errors, lead_days=2, service_level=0.95) == 0


def test_usage_past_the_forecast_repeats_its_last_week() -> None:
    week = [0.0, 100.0, 100.0, 100.0, 100.0, 200.0, 200.0]  # closed Mondays

    assert cumulative_usage(week, 14) == 2 * 800
    assert cumulative_usage(week, 2.5) == 150
    # Two weeks use 1,600; the third Monday is closed; Tuesday uses 100; Wednesday half.
    assert days_of_cover(1750, week) == 16.5


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: safety_stock(NormalRule(0, 1), lead_days=2, service_level=1.0), "service_level"),
        (lambda: safety_stock(NormalRule(0, 1), lead_days=-1, service_level=0.9), "lead_time_days"),
        (lambda: cheese_advice(100, review_days=-2), "review_days"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(call: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        call()  # type: ignore[operator]

    assert caught.value.details[0]["field"] == field
