"""``GET /api/v1/restaurant/inventory`` end to end, on an RMS whose demand and recipes we
choose: the reorder point and quantity computed by hand under each link of both fallback
chains it rides on (inventory's and demand's), the cache and its drop on new data, and
the 4xx answers naming their field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from scipy.stats import norm
from sqlalchemy import create_engine, insert, update

from foresight.api.app import create_app
from foresight.apps.restaurant import demo_rms
from foresight.apps.restaurant.inventory import INVENTORY, NO_UNCERTAINTY, InventoryModel
from foresight.apps.restaurant.inventory_data import item_forecast
from foresight.apps.restaurant.model import DEMAND, DemandModel
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.forecasting.result import ForecastResult
from foresight.platform.runtime import Platform
from tests.apps.restaurant.conftest import make_rms, platform_on
from tests.conftest import make_keys

URL = "/api/v1/restaurant/inventory"
START = datetime(2015, 3, 2)  # a Monday; 70 days end on Sunday 2015-05-10
DAYS = 70
AS_OF = "2015-05-11"
Z95 = float(norm.ppf(0.95))  # 1.6449


def make_inventory_rms(url: str) -> None:
    """Ten margheritas a day, every day. The first two weeks sell only size L; the last
    eight weeks (the size mix the app reads) 6 M and 4 L. A margherita takes 100 g of
    cheese as M and 150 g as L (120 g on the recent mix) and 5 g of basil at any size."""
    engine = create_engine(url)
    demo_rms.METADATA.drop_all(engine)
    demo_rms.METADATA.create_all(engine)
    orders, lines = [], []
    for day in range(DAYS):
        for k in range(10):
            oid = day * 10 + k + 1
            at = START + timedelta(days=day, hours=12, minutes=k)
            orders.append(
                {"order_id": oid, "ordered_at": at, "updated_at": at, "channel": "dine_in",
                 "status": "completed"}
            )  # fmt: skip
            size = "M" if day >= 14 and k < 6 else "L"
            lines.append(
                {"order_item_id": oid, "order_id": oid, "item_id": "margherita", "size": size,
                 "quantity": 1, "unit_price": 12.0}
            )  # fmt: skip
    menu = [("margherita", s, "Margherita", "classic", 12.0) for s in ("M", "L")]
    ingredient = ("ingredient_id", "name", "unit", "supplier_lead_time_days", "pack_size")
    with engine.begin() as conn:
        conn.execute(
            insert(demo_rms.menu_items),
            [dict(zip(("item_id", "size", "name", "category", "price"), m, strict=True))
             for m in menu],
        )  # fmt: skip
        conn.execute(insert(demo_rms.orders), orders)
        conn.execute(insert(demo_rms.order_items), lines)
        conn.execute(
            insert(demo_rms.recipes),
            [
                {"item_id": "margherita", "size": "M", "ingredient_id": "cheese", "quantity": 100},
                {"item_id": "margherita", "size": "L", "ingredient_id": "cheese", "quantity": 150},
                {"item_id": "margherita", "size": "", "ingredient_id": "basil", "quantity": 5},
            ],
        )
        conn.execute(
            insert(demo_rms.inventory_items),
            [
                dict(zip(ingredient, ("cheese", "Mozzarella", "g", 2, 1000.0), strict=True))
                | {"min_order_qty": 1000.0},
                dict(zip(ingredient, ("basil", "Basil", "g", 1, 100.0), strict=True))
                | {"min_order_qty": None},
            ],
        )
        at = datetime(2015, 5, 11)
        conn.execute(
            insert(demo_rms.inventory_batches),
            [  # b2 is a bare "use by" date: good through May 11 only
                {"batch_id": 1, "ingredient_id": "cheese", "expires_at": at + timedelta(days=50),
                 "quantity_remaining": 1500.0},
                {"batch_id": 2, "ingredient_id": "basil", "expires_at": at,
                 "quantity_remaining": 100.0},
                {"batch_id": 3, "ingredient_id": "basil", "expires_at": at + timedelta(days=9),
                 "quantity_remaining": 200.0},
                {"batch_id": 4, "ingredient_id": "cheese", "expires_at": at - timedelta(days=9),
                 "quantity_remaining": 0.0},  # used up: not stock
            ],
        )  # fmt: skip
    engine.dispose()


def open_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The RMS above synced into a fresh platform, a client and keys."""
    url = f"sqlite:///{tmp_path / 'rms.sqlite'}"
    make_inventory_rms(url)
    p = platform_on(tmp_path / "fs", url, monkeypatch)
    service = p.service_of(RestaurantService)
    service.sync_now()
    with TestClient(create_app(p)) as client:
        yield {"p": p, "service": service, "client": client, "keys": make_keys(p), "url": url}
    p.close()


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from open_shop(tmp_path, monkeypatch)


@contextmanager
def reopened(shop: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The same data in a fresh process: no model version loaded yet."""
    p = Platform.create(shop["p"].settings)
    with TestClient(create_app(p)) as client:
        yield shop | {"p": p, "client": client}
    p.close()


def ask(shop: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = shop["client"].get(URL, params=params, headers=shop["keys"]["service"])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["ingredient_id"]: a for a in body["items"]}


def test_no_models_at_all_gives_the_hand_computed_default_advice(shop: dict[str, Any]) -> None:
    body = ask(shop)
    assert (body["as_of"], body["service_level"], body["review_days"]) == (AS_OF, 0.95, 1.0)
    assert (body["model_version"], body["fallback"], body["method"]) == (
        "default", "default", "default"
    )  # fmt: skip
    # Demand's default: each weekday's mean of the last four weeks, 10 margheritas a day.
    assert (body["demand_model_version"], body["demand_fallback"], body["demand_method"]) == (
        "default", "default", "default"
    )  # fmt: skip
    cheese, basil = by_id(body)["cheese"], by_id(body)["basil"]
    # Cheese: 10 × (0.6 × 100 + 0.4 × 150) = 1,200 g a day (the whole ten weeks' mix would
    # give 1,260). L = 2, R = 1, no safety stock under the default: ROP 2,400, S 3,600;
    # 1,500 usable < 2,400, so order 2,100 → three packs of 1,000 (MOQ 1,000).
    assert cheese["daily_usage"] == 1200.0
    assert (cheese["safety_stock"], cheese["reorder_point"], cheese["order_up_to"]) == (
        0.0, 2400.0, 3600.0
    )  # fmt: skip
    assert (cheese["reorder_now"], cheese["suggested_order_qty"]) == (True, 3000.0)
    assert (cheese["on_hand"], cheese["usable_on_hand"], cheese["days_of_cover"]) == (
        1500.0, 1500.0, 1.25
    )  # fmt: skip
    assert (cheese["name"], cheese["unit"], cheese["note"]) == ("Mozzarella", "g", NO_UNCERTAINTY)
    # Basil: 50 g a day, first from b2 (good through today): 50 g of it expire unused.
    assert basil["expiring"] == [
        {"batch_id": "2", "expires_at": AS_OF, "quantity": 100.0, "unusable": 50.0}
    ]
    assert (basil["on_hand"], basil["usable_on_hand"], basil["days_of_cover"]) == (
        300.0, 250.0, 5.0
    )  # fmt: skip
    assert (basil["reorder_point"], basil["reorder_now"], basil["suggested_order_qty"]) == (
        50.0, False, 0.0
    )  # fmt: skip
    assert body["expiring"] == [{"ingredient_id": "basil", "unit": "g", **basil["expiring"][0]}]
    assert [a["ingredient_id"] for a in body["items"]] == ["cheese", "basil"]  # order-now first


def test_the_weekly_run_is_due_with_ten_weeks_of_orders_and_recipes(
    shop: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = shop["p"].model_spec(INVENTORY).due
    assert due is not None and due(shop["p"]) is True
    url = f"sqlite:///{tmp_path / 'small.sqlite'}"
    make_rms(url)  # six weeks, no recipes
    small = platform_on(tmp_path / "small", url, monkeypatch)
    try:
        small.service_of(RestaurantService).sync_now()
        assert due(small) is False
    finally:
        small.close()


def test_a_scheduled_run_pushes_the_reorder_list_and_the_expiring_batch(
    shop: dict[str, Any],
) -> None:
    pushed = shop["service"].inventory.push_payload(INVENTORY)
    assert pushed["reorder"] == [
        {"ingredient_id": "cheese", "unit": "g", "suggested_order_qty": 3000.0,
         "days_of_cover": 1.25}
    ]  # fmt: skip
    assert pushed["expiring"] == [
        {"ingredient_id": "basil", "unit": "g", "batch_id": "2", "expires_at": AS_OF,
         "unusable": 50.0}
    ]  # fmt: skip
    assert (pushed["as_of"], pushed["service_level"], pushed["method"]) == (AS_OF, 0.95, "default")


def test_overrides_and_one_ingredient(shop: dict[str, Any]) -> None:
    (cheese,) = ask(shop, ingredient_id="cheese", lead_time_days=3, review_days=0)["items"]
    # L = 3, R = 0: ROP = S = 3,600; order 2,100 → 3 packs.
    assert (cheese["lead_time_days"], cheese["reorder_point"], cheese["order_up_to"]) == (
        3.0, 3600.0, 3600.0
    )  # fmt: skip
    assert cheese["suggested_order_qty"] == 3000.0


def _unreadable(p: Platform, name: str, fallback: dict[str, Any]) -> int:
    """Register and promote a version whose artifact is gone (checksum fails)."""
    mv = p.registry.register(
        name=name, model={"not": "a model"}, algorithm="test", params={}, metrics={},
        signature={}, fallback=fallback, data_fingerprint="x",
    )  # fmt: skip
    p.registry.promote(name, mv.version)
    (p.settings.artifacts_dir / mv.artifact_path).unlink()
    p.server.invalidate(name)
    return mv.version


RULE = {"kind": "normal_rule", "mean": {"cheese": 1200.0, "basil": 50.0},
        "sd": {"cheese": 400.0, "basil": 10.0}}  # fmt: skip


def test_each_inventory_link_broken_in_turn(
    shop: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, service = shop["p"], shop["service"]
    outcome = service.inventory.train()
    assert outcome.promoted and outcome.version.metrics["ingredients"] == 2
    body = ask(shop)
    assert (body["method"], body["fallback"], body["model_version"]) == (
        "conformal", None, "restaurant_inventory:v1"
    )  # fmt: skip
    model = p.registry.load(p.registry.production(INVENTORY))
    assert isinstance(model, InventoryModel)
    cheese = by_id(body)["cheese"]
    errors = model.error_quantiles("cheese")
    assert errors is not None
    # The served safety stock is the stored quantile of the 2-day usage error at 95 %.
    assert cheese["safety_stock"] == pytest.approx(max(errors.at(2, 0.95), 0.0), abs=1e-3)
    assert cheese["reorder_point"] == pytest.approx(2400 + cheese["safety_stock"], abs=1e-3)

    # Production unreadable: the previous production answers, and says so.
    _unreadable(p, INVENTORY, RULE)
    body = ask(shop)
    assert (body["fallback"], body["model_version"], body["method"]) == (
        "previous_production", "restaurant_inventory:v1", "conformal"
    )  # fmt: skip

    # Both unreadable (in a process that has loaded neither): the rule from v2's JSON.
    (p.settings.artifacts_dir / p.registry.get(INVENTORY, 1).artifact_path).unlink()
    with reopened(shop) as fresh:
        body, strict = ask(fresh), ask(fresh, service_level=0.99)
    assert (body["fallback"], body["model_version"], body["method"]) == (
        "rule_baseline", "restaurant_inventory:v2+rule", "normal_rule"
    )  # fmt: skip
    cheese = by_id(body)["cheese"]
    # z·σ·√L over L = 2 and L + R = 3 days: SS 930.5, ROP 3,330.5, S 3,600 + 1,139.6;
    # order 4,739.6 − 1,500 → four packs.
    assert cheese["safety_stock"] == pytest.approx(Z95 * 400 * math.sqrt(2), abs=1e-3)
    assert cheese["reorder_point"] == pytest.approx(2400 + Z95 * 400 * math.sqrt(2), abs=1e-3)
    assert cheese["order_up_to"] == pytest.approx(3600 + Z95 * 400 * math.sqrt(3), abs=1e-3)
    assert cheese["suggested_order_qty"] == 4000.0
    strict = by_id(strict)["cheese"]
    assert strict["safety_stock"] == pytest.approx(norm.ppf(0.99) * 400 * math.sqrt(2), abs=1e-3)


def _demand_model(until: pd.Timestamp, per_day: float, horizon: int = 14) -> DemandModel:
    """A stored demand version whose daily margherita forecast is ``per_day`` throughout."""
    future = pd.date_range(until + pd.Timedelta(days=1), periods=horizon, freq="D")
    daily = ForecastResult(
        uids=["items:item:margherita"], horizon=horizon, freq="D", season_length=7,
        future=np.array([future.to_numpy()]), point=np.full((1, horizon), per_day),
        members={}, groups=np.array(["item"], dtype=object), weights={}, candidates={},
        scores={}, cum_scores={}, scale=np.ones(1), nonnegative=np.ones(1, dtype=bool),
        backtest=pd.DataFrame(),
    )  # fmt: skip
    return DemandModel(daily, daily, until, until, {}, {}, "mon-sun 11:00-23:00")


def _register(p: Platform, model: DemandModel) -> None:
    mv = p.registry.register(
        name=DEMAND, model=model, algorithm="test", params={}, metrics={}, signature={},
        fallback={"kind": "seasonal_naive"}, data_fingerprint="x",
    )  # fmt: skip
    p.registry.promote(DEMAND, mv.version)
    p.server.invalidate(DEMAND)


def test_usage_follows_each_demand_link(shop: dict[str, Any]) -> None:
    p = shop["p"]
    # A stored ensemble forecasting 20 margheritas a day doubles the cheese.
    _register(p, _demand_model(pd.Timestamp("2015-05-10"), 20.0))
    body = ask(shop)
    assert (body["demand_model_version"], body["demand_fallback"], body["demand_method"]) == (
        "restaurant_demand:v1", None, "ensemble"
    )  # fmt: skip
    cheese = by_id(body)["cheese"]
    assert (cheese["daily_usage"], cheese["reorder_point"], cheese["suggested_order_qty"]) == (
        2400.0, 4800.0, 6000.0
    )  # fmt: skip
    # A newer version unreadable: the previous production answers.
    _unreadable(p, DEMAND, {"kind": "seasonal_naive"})
    body = ask(shop)
    assert (body["demand_model_version"], body["demand_fallback"], body["demand_method"]) == (
        "restaurant_demand:v1", "previous_production", "ensemble"
    )  # fmt: skip
    # Both unreadable: seasonal naive on the mirror (last week again: 10 a day).
    (p.settings.artifacts_dir / p.registry.get(DEMAND, 1).artifact_path).unlink()
    with reopened(shop) as fresh:
        body = ask(fresh)
    assert (body["demand_model_version"], body["demand_fallback"], body["demand_method"]) == (
        "restaurant_demand:v2+rule", "rule_baseline", "seasonal_naive"
    )  # fmt: skip
    assert by_id(body)["cheese"]["reorder_point"] == 2400.0


def test_a_demand_model_too_stale_to_cover_a_week_gives_way_to_the_rule(
    shop: dict[str, Any],
) -> None:
    # Trained up to April 20: its 14 days end May 4, before the stock's first day.
    _register(shop["p"], _demand_model(pd.Timestamp("2015-04-20"), 20.0))
    body = ask(shop)
    assert (body["demand_fallback"], body["demand_method"]) == ("rule_baseline", "seasonal_naive")
    assert by_id(body)["cheese"]["daily_usage"] == 1200.0


@pytest.mark.parametrize("link", ["stale model", "default"])
def test_a_start_on_the_datas_last_day_still_gives_every_wanted_day(
    shop: dict[str, Any], link: str
) -> None:
    # A caller one day behind the data (a memo older than the demand data) once crashed
    # on a path one day short of the wanted days.
    p, service = shop["p"], shop["service"]
    if link == "stale model":  # answered from the mirror's history, as the rule is
        _register(p, _demand_model(pd.Timestamp("2015-04-20"), 20.0))
    data = service.demand_data()
    served = p.serve(DEMAND)
    forecast = item_forecast(served.model, data, service.opening, data.daily_until.date(), 14)
    assert forecast.frame.groupby("item_id").size().eq(14).all()


def test_answers_are_cached_until_new_data_or_a_new_model(shop: dict[str, Any]) -> None:
    first, again = ask(shop), ask(shop)
    assert (first["cached"], again["cached"]) == (False, True)
    assert {k: v for k, v in again.items() if k != "cached"} == {
        k: v for k, v in first.items() if k != "cached"
    }
    assert ask(shop, service_level=0.9)["cached"] is False  # another key
    # New stock in the RMS: the sync drops the answer, and the new one counts it.
    engine = create_engine(shop["url"])
    with engine.begin() as conn:
        conn.execute(
            update(demo_rms.inventory_batches)
            .where(demo_rms.inventory_batches.c.batch_id == 1)
            .values(quantity_remaining=3000.0)
        )
    engine.dispose()
    shop["service"].sync_now()
    fresh = ask(shop)
    cheese = by_id(fresh)["cheese"]
    assert fresh["cached"] is False
    assert (cheese["on_hand"], cheese["reorder_now"], cheese["suggested_order_qty"]) == (
        3000.0, False, 0.0
    )  # fmt: skip
    assert ask(shop)["cached"] is True
    # A new inventory model is a new key.
    shop["service"].inventory.train()
    assert ask(shop)["cached"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"service_level": 0.3}, "service_level"),
        ({"service_level": 1.0}, "service_level"),
        ({"lead_time_days": -1}, "lead_time_days"),
        ({"review_days": -0.5}, "review_days"),
        ({"review_days": 1e9}, "review_days"),
        ({"ingredient_id": ""}, "ingredient_id"),
    ],
)
def test_bad_ranges_are_a_422_naming_the_field(
    shop: dict[str, Any], params: dict[str, Any], field: str
) -> None:
    r = shop["client"].get(URL, params=params, headers=shop["keys"]["service"])
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["errors"]] == [field]


def test_an_unknown_ingredient_is_a_404_with_a_suggestion(shop: dict[str, Any]) -> None:
    r = shop["client"].get(URL, params={"ingredient_id": "chese"}, headers=shop["keys"]["service"])
    assert r.status_code == 404, r.text
    assert r.json()["errors"] == [{"field": "ingredient_id", "message": "unknown ingredient"}]
    assert "did you mean 'cheese'?" in r.json()["detail"]
    assert shop["client"].get(URL).status_code == 401
