"""The inventory model (docs/restaurant-plan.md §4.11, §4.15): rolling-origin error
quantiles computed by hand on a known case, the service level they achieve on simulated
Poisson demand, the rule and default links, and the 404 for an unknown ingredient."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from foresight.apps.restaurant.inventory import (
    INVENTORY,
    NO_UNCERTAINTY,
    InventoryAnswers,
    InventoryData,
    InventoryDataset,
    InventoryDefault,
    InventoryModel,
    InventoryRule,
    InventoryTrainingSpec,
    achieved_service,
    inventory_rule,
)
from foresight.apps.restaurant.reorder import Batch
from foresight.apps.restaurant.usage import item_wide, spell_sizes, usage_ahead
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.registry import ModelVersion
from foresight.platform.runtime import Platform
from foresight.platform.training import Described, Fitted, TrainingContext
from tests.conftest import make_settings

CTX = TrainingContext(seed=0, tuning_seconds=0, tuning_trials=0)
START = pd.Timestamp("2015-01-05")  # a Monday
TODAY = date(2015, 4, 1)


def flat_ten(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """A forecaster that always says 10 units a day."""
    days = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame(10.0, index=days, columns=history.columns)


def weekly_mean(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Each weekday's mean over the last four weeks (a seasonal-naive kind of forecaster)."""
    profile = history.iloc[-28:].to_numpy().reshape(4, 7, -1).mean(axis=0)
    days = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame(profile[np.arange(horizon) % 7], index=days, columns=history.columns)


def ingredients_frame(ids: list[str], lead: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ingredient_id": ids,
            "name": [i.title() for i in ids],
            "unit": "g",
            "lead_time_days": lead,
            "shelf_life_days": 10.0,
            "pack_size": 1000.0,
            "min_order_qty": np.nan,
        }
    )


def saturday_case() -> InventoryData:
    """12 weeks ending on a Sunday: 10 margheritas a day, 17 on Saturdays; the forecast
    always says 10. A margherita (any size) takes 100 g of cheese, so the daily usage
    error is 700 g on Saturdays and 0 otherwise."""
    days = pd.date_range(START, periods=84, freq="D")
    daily = pd.DataFrame({"margherita": np.where(days.dayofweek == 5, 17.0, 10.0)}, index=days)
    return InventoryData(
        daily=daily,
        shares=pd.DataFrame({"item_id": ["margherita"], "size": ["L"], "share": [1.0]}),
        recipes=pd.DataFrame(
            [("margherita", "", "cheese", 100.0)],
            columns=["item_id", "size", "ingredient_id", "quantity"],
        ),
        ingredients=ingredients_frame(["cheese"], [1.0]),
        forecaster=flat_ten,
        review_days=1,
    )


def train(data: InventoryData) -> tuple[InventoryTrainingSpec, InventoryDataset, Fitted]:
    spec = InventoryTrainingSpec(lambda: data)
    dataset = spec.features(spec.validate(CTX), CTX)
    return spec, dataset, spec.fit(dataset, spec.tune(dataset, CTX), CTX)


def test_quantiles_and_reorder_point_match_the_hand_computed_case() -> None:
    _, dataset, fitted = train(saturday_case())
    model = fitted.model
    assert isinstance(model, InventoryModel)
    assert dataset.horizon == 7  # lead 1 + review 1, raised to a week
    # The last 28 days use 1,000 g a day plus 700 g on each of their 4 Saturdays.
    assert model.scale["cheese"] == pytest.approx(1100.0)
    # k = 1: 28 decision days, 4 of them Saturdays: 24 errors of 0 and 4 of 700. The
    # quantile at rank α(n+1) = 29α: 14.5 and 23.2 fall among the zeros, 26.1, 27.55
    # and 28.71 (capped at 28) among the 700s.
    assert model.quantiles["cheese"][1] == pytest.approx([0, 0, 700 / 1100, 700 / 1100, 700 / 1100])
    # k = 7: every week holds exactly one Saturday, so every quantile is 700 g.
    assert model.quantiles["cheese"][7] == pytest.approx([700 / 1100] * 5)
    errors = model.error_quantiles("cheese")
    assert errors is not None
    assert errors.at(1, 0.95) == pytest.approx(700.0)
    assert errors.at(1, 0.5) == pytest.approx(0.0)
    assert errors.at(7, 0.8) == pytest.approx(700.0)

    answers = InventoryAnswers(default_lead_time_days=2)
    body = answers.advise_all(
        model,
        {"cheese": [1000.0] * 14},
        {"cheese": [Batch("b1", 1500.0, TODAY + timedelta(days=30))]},
        saturday_case().ingredients,
        TODAY,
    )
    (item,) = body["items"]
    # L = 1: ROP = 1,000 + 700. L + R = 2: 19 of 27 pairs of days hold no Saturday, so
    # the 0.95 quantile (rank 26.6) is 700 and S = 2,000 + 700; order 1,200 → 2 packs.
    assert item["safety_stock"] == pytest.approx(700.0)
    assert item["reorder_point"] == pytest.approx(1700.0)
    assert item["order_up_to"] == pytest.approx(2700.0)
    assert item["reorder_now"] is True
    assert item["suggested_order_qty"] == 2000.0
    assert (item["name"], item["unit"], item["note"]) == ("Cheese", "g", None)
    assert body["method"] == "conformal"
    assert (body["as_of"], body["service_level"]) == ("2015-04-01", 0.95)

    week = answers.advise_all(
        model, {"cheese": [1000.0] * 14}, {}, saturday_case().ingredients, TODAY, lead_time_days=7
    )
    assert week["items"][0]["reorder_point"] == pytest.approx(7700.0)


def test_the_holdout_and_the_rule_fallback_are_computed_on_the_hand_case() -> None:
    spec, dataset, fitted = train(saturday_case())
    metrics = spec.evaluate(fitted, dataset, CTX)
    # Weeks 4–7 give the same quantiles; with 700 g of safety stock every one-day cycle
    # of the last 28 days is covered, 5 points above the 95 % target.
    assert metrics["holdout_service_level"] == 1.0
    assert metrics["holdout_cycles"] == 28
    assert metrics["holdout_service_gap"] == pytest.approx(0.05)
    assert metrics["ingredients"] == 1
    # A week-ago forecast is exact on this pattern, so usage MASE has no scale.
    assert metrics["holdout_usage_mase"] is None
    assert spec.score(fitted.model, dataset) == pytest.approx(0.05)
    assert spec.score("not an inventory model", dataset) is None

    described = spec.describe(fitted, dataset)
    assert isinstance(described, Described)
    assert described.fallback["kind"] == "normal_rule"
    assert described.fallback["mean"]["cheese"] == pytest.approx(1100.0)
    # 24 days at 1,000 g and 4 at 1,700 g around a mean of 1,100 g.
    sd = math.sqrt((24 * 100**2 + 4 * 600**2) / 27)
    assert described.fallback["sd"]["cheese"] == pytest.approx(sd)
    assert described.signature["trained_until"] == "2015-03-29"


def poisson_case(seed: int, items: int = 10) -> InventoryData:
    """14 weeks of Poisson item demand with a weekly pattern; every pizza takes dough
    (an every-size recipe) and one topping of its own (size L); lead times 1–3 days."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, periods=98, freq="D")
    week = np.array([10, 9, 9.5, 11, 15, 17.5, 12.5])
    names = [f"p{i}" for i in range(items)]
    daily = pd.DataFrame(
        {k: rng.poisson(week[days.dayofweek] * (0.3 + 0.15 * i)) for i, k in enumerate(names)},
        index=days,
    )
    recipes = pd.DataFrame(
        [(k, "", "dough", 250.0) for k in names]
        + [(k, "L", f"top{i}", 50.0) for i, k in enumerate(names)],
        columns=["item_id", "size", "ingredient_id", "quantity"],
    )
    ids = ["dough", *(f"top{i}" for i in range(items))]
    return InventoryData(
        daily=daily,
        shares=pd.DataFrame({"item_id": names, "size": "L", "share": 1.0}),
        recipes=recipes,
        ingredients=ingredients_frame(ids, [1.0 + i % 3 for i in range(len(ids))]),
        forecaster=weekly_mean,
    )


def test_the_achieved_service_level_on_poisson_demand_is_near_the_target() -> None:
    spec, dataset, fitted = train(poisson_case(seed=3))
    metrics = spec.evaluate(fitted, dataset, CTX)
    # 11 ingredients × 28 decision days, less the cycles running past the data's end.
    assert metrics["holdout_cycles"] == 298
    assert metrics["holdout_service_gap"] < 0.06
    assert 0.5 < metrics["holdout_usage_mase"] < 1.2
    # Without the safety stock the same reorder points run out about half the time.
    zero = InventoryModel(
        {i: {k: [0.0] * 5 for k in q} for i, q in fitted.model.quantiles.items()},
        fitted.model.levels,
        fitted.model.scale,
        fitted.model.trained_until,
    )
    level, _ = achieved_service(zero, dataset)
    assert level < 0.75


def test_rule_link_is_z_sigma_root_l_and_survives_the_registry_json() -> None:
    fallback = {"kind": "normal_rule", "mean": {"cheese": 1000.0}, "sd": {"cheese": 200.0}}
    version = ModelVersion(
        1, "restaurant_inventory", 1, "production", "x", {}, {}, {},
        json.loads(json.dumps(fallback)), "", None, "", "", datetime(2015, 4, 1), None,
    )  # fmt: skip
    rule = inventory_rule(version)
    assert rule == InventoryRule({"cheese": 1000.0}, {"cheese": 200.0})
    ingredients = ingredients_frame(["cheese"], [4.0])
    body = InventoryAnswers().advise_all(
        rule, {"cheese": [1000.0] * 14}, {}, ingredients, TODAY, review_days=0
    )
    (item,) = body["items"]
    z = float(norm.ppf(0.95))  # 1.6449
    assert item["safety_stock"] == pytest.approx(z * 200 * 2)  # 657.9
    assert item["reorder_point"] == pytest.approx(4000 + z * 200 * 2)
    assert (body["method"], item["note"]) == ("normal_rule", None)
    # No usage forecast for the ingredient: the rule's own mean usage stands in.
    alone = InventoryAnswers().advise_all(rule, {}, {}, ingredients, TODAY, review_days=0)
    assert alone["items"][0]["reorder_point"] == pytest.approx(4000 + z * 200 * 2)


def test_default_link_is_mean_usage_times_lead_time_without_safety_stock() -> None:
    usage = [1000.0] * 5 + [0.0, 0.0]  # closed at the weekend: a mean of 714.29 g a day
    body = InventoryAnswers().advise_all(
        InventoryDefault(),
        {"cheese": usage * 2},
        {"cheese": [Batch("b1", 1000.0, TODAY + timedelta(days=20))]},
        ingredients_frame(["cheese"], [3.0]),
        TODAY,
    )
    (item,) = body["items"]
    assert item["reorder_point"] == pytest.approx(5000 / 7 * 3)  # not Σ₁³ u = 3,000
    assert item["safety_stock"] == 0
    assert item["note"] == NO_UNCERTAINTY == "no uncertainty estimate"
    assert body["method"] == "default"


def test_an_ingredient_the_model_never_saw_gets_no_safety_stock_and_says_so() -> None:
    _, _, fitted = train(saturday_case())
    body = InventoryAnswers().advise_all(
        fitted.model, {"basil": [10.0] * 14}, {}, ingredients_frame(["basil"], [2.0]), TODAY
    )
    (item,) = body["items"]
    assert (item["safety_stock"], item["reorder_point"], item["note"]) == (0, 20.0, NO_UNCERTAINTY)


def test_expiring_batches_are_listed_with_their_ingredient_soonest_first() -> None:
    body = InventoryAnswers().advise_all(
        InventoryDefault(),
        {"cheese": [500.0] * 14, "ham": [100.0] * 14},
        {
            "cheese": [Batch("a", 800.0, TODAY), Batch("b", 2000.0, TODAY + timedelta(days=9))],
            "ham": [Batch("h", 500.0, TODAY + timedelta(days=2))],
        },
        ingredients_frame(["cheese", "ham"], [1.0, 1.0]),
        TODAY,
    )
    assert body["expiring"] == [
        {"ingredient_id": "cheese", "unit": "g", "batch_id": "a", "expires_at": "2015-04-01",
         "quantity": 800.0, "unusable": 300.0},
        {"ingredient_id": "ham", "unit": "g", "batch_id": "h", "expires_at": "2015-04-03",
         "quantity": 500.0, "unusable": 200.0},
    ]  # fmt: skip
    cheese = body["items"][0]
    assert cheese["usable_on_hand"] == 2500.0
    assert cheese["expiring"][0]["expires_at"] == "2015-04-01"


def test_an_unknown_ingredient_is_a_404_naming_the_field() -> None:
    with pytest.raises(NotFound) as caught:
        InventoryAnswers().advise_all(
            InventoryDefault(),
            {},
            {},
            ingredients_frame(["mozzarella_cheese"], [1.0]),
            TODAY,
            ingredient_id="mozzarela_cheese",
        )
    assert caught.value.status == 404
    assert caught.value.details == [{"field": "ingredient_id", "message": "unknown ingredient"}]
    assert "did you mean 'mozzarella_cheese'" in caught.value.message


def test_every_size_recipes_are_spelled_out_and_a_sized_row_wins() -> None:
    recipes = pd.DataFrame(
        [("m", "", "dough", 250.0), ("m", "L", "dough", 300.0), ("c", "", "dough", 100.0)],
        columns=["item_id", "size", "ingredient_id", "quantity"],
    )
    shares = pd.DataFrame({"item_id": ["m", "m"], "size": ["M", "L"], "share": [0.5, 0.5]})
    spelled = spell_sizes(recipes, shares).sort_values(["item_id", "size"])
    assert spelled.to_dict("records") == [
        {"item_id": "c", "size": "", "ingredient_id": "dough", "quantity": 100.0},
        {"item_id": "m", "size": "L", "ingredient_id": "dough", "quantity": 300.0},
        {"item_id": "m", "size": "M", "ingredient_id": "dough", "quantity": 250.0},
    ]


def test_item_series_in_any_shape_become_the_same_zero_filled_days() -> None:
    wide = pd.DataFrame(
        {"a": [1.0, 0.0, 3.0], "b": [0.0, 2.0, 0.0]},
        index=pd.date_range("2015-03-01", periods=3, freq="D"),
    )
    long = pd.DataFrame(
        {"item_id": ["a", "b", "a"], "quantity": [1.0, 2.0, 3.0],
         "day": pd.to_datetime(["2015-03-01", "2015-03-02", "2015-03-03"])}
    )  # fmt: skip
    demand = pd.DataFrame(
        {"unique_id": ["items:item:a", "items:item:b", "items:item:a", "items:total"],
         "ds": pd.to_datetime(["2015-03-01", "2015-03-02", "2015-03-03", "2015-03-01"]),
         "y": [1.0, 2.0, 3.0, 99.0]}
    )  # fmt: skip
    for frame in (wide, long, demand):
        pd.testing.assert_frame_equal(item_wide(frame), wide, check_freq=False)


def test_too_little_history_is_refused_with_the_days_needed() -> None:
    data = saturday_case()
    data.daily = data.daily.iloc[-60:]
    with pytest.raises(InvalidInput, match="60 days of sales; inventory needs 70"):
        InventoryTrainingSpec(lambda: data).validate(CTX)


def test_closed_days_are_forecast_as_zero_and_left_out_of_the_rule_spread() -> None:
    data = saturday_case()
    mondays = data.daily.index.dayofweek == 0
    data.daily.loc[mondays, "margherita"] = 0.0  # closed on Mondays

    def closed(stamps: np.ndarray) -> np.ndarray:
        return pd.DatetimeIndex(stamps).dayofweek == 0

    data.closed = closed
    spec, dataset, fitted = train(data)
    errors = fitted.model.error_quantiles("cheese")
    # A forecast of 10 on Mondays would make each week's error 700 − 1,000 = −300 g.
    assert errors.at(7, 0.95) == pytest.approx(700.0)
    assert errors.at(7, 0.5) == pytest.approx(700.0)
    fallback = spec.describe(fitted, dataset).fallback
    # 20 open days at 1,000 g and 4 Saturdays at 1,700 g over 28 calendar days …
    assert fallback["mean"]["cheese"] == pytest.approx((20 * 1000 + 4 * 1700) / 28)
    # … and the spread of the 24 open days only.
    assert fallback["sd"]["cheese"] == pytest.approx(np.std([1000] * 20 + [1700] * 4, ddof=1))


def test_usage_ahead_turns_a_demand_forecast_into_ingredient_days_from_today() -> None:
    forecast = pd.DataFrame(
        {
            "unique_id": ["items:item:m"] * 3 + ["items:total"] * 3,
            "ds": list(pd.date_range("2015-03-31", periods=3, freq="D")) * 2,
            "y": [4.0, 6.0, 8.0, 99.0, 99.0, 99.0],
        }
    )
    recipes = pd.DataFrame(
        [("m", "", "dough", 250.0), ("m", "L", "cheese", 150.0), ("m", "M", "cheese", 100.0)],
        columns=["item_id", "size", "ingredient_id", "quantity"],
    )
    shares = pd.DataFrame({"item_id": ["m", "m"], "size": ["M", "L"], "share": [0.5, 0.5]})
    usage = usage_ahead(forecast, shares, recipes, date(2015, 4, 1), 3)
    # From April 1: 6 and 8 pizzas, then nothing forecast; cheese 125 g a pizza on average.
    assert usage == {"cheese": [750.0, 1000.0, 0.0], "dough": [1500.0, 2000.0, 0.0]}


def test_a_forecaster_that_leaves_out_an_item_is_refused() -> None:
    data = saturday_case()
    data.forecaster = lambda history, horizon: flat_ten(history, horizon).rename(
        columns={"margherita": "items:item:margherita"}
    )
    spec = InventoryTrainingSpec(lambda: data)
    dataset = spec.features(spec.validate(CTX), CTX)
    with pytest.raises(InvalidInput, match="the forecaster must give 13 days of every item"):
        spec.fit(dataset, {}, CTX)


def test_the_pipeline_registers_the_model_and_gates_a_retrain_against_it(tmp_path: Path) -> None:
    platform = Platform.create(make_settings(tmp_path))
    try:
        spec = InventoryTrainingSpec(lambda: poisson_case(seed=3))
        first = platform.pipeline.run(spec, CTX)
        again = platform.pipeline.run(spec, CTX)
        stored = platform.registry.load(again.version)
        rule = inventory_rule(platform.registry.get(INVENTORY, again.version.version))
    finally:
        platform.close()
    assert first.promoted and first.version.metrics["ingredients"] == 11
    # Production's quantiles are scored on the retrain's holdout.
    assert again.gate.production_version == 1 and again.gate.production_value is not None
    assert isinstance(stored, InventoryModel) and set(stored.quantiles) == set(rule.mean)
    assert rule.sd["dough"] > 0
