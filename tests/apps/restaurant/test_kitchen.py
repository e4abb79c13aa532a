"""Kitchen ticket and delivery times through the API, on a small RMS whose times follow
a known rule: trained answers and their intervals, the cache and its invalidation, every
link of the fallback chain, and the 4xx cases naming their field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, create_engine, insert, select, update
from streamlit.testing.v1 import AppTest

from foresight.api.app import create_app
from foresight.apps.restaurant import demo_rms
from foresight.apps.restaurant.kitchen_model import (
    DELIVERY,
    KITCHEN,
    RateRule,
)
from foresight.apps.restaurant.service import RestaurantService
from foresight.dashboard.client import ApiClient
from foresight.platform.runtime import Platform
from tests.apps.restaurant.conftest import make_rms
from tests.conftest import make_keys, make_settings

KITCHEN_URL = "/api/v1/restaurant/kitchen"
DELIVERY_URL = "/api/v1/restaurant/kitchen/delivery"
# The last day of make_rms(days=42) from 2015-03-02 is Sunday 2015-04-12.
FRIDAY_EVENING = "2015-04-10T20:00:00"
FRIDAY_NOON = "2015-04-10T11:30:00"
# Short trainings: one configuration per member, a small box (the learner's own tests
# cover its search).
FAST = {"tuning_seconds": 8.0, "tuning_trials": 1}


def ticket_minutes(hour: float, noise: float) -> float:
    """The known kitchen: 6 minutes, plus 0.8 a hour past 11:00, plus noise."""
    return 6.0 + 0.8 * (hour - 11.0) + noise


def delivery_minutes(distance: float, noise: float) -> float:
    """The known road: 10 minutes plus 3 per distance unit, plus noise."""
    return 10.0 + 3.0 * distance + noise


def make_timed_rms(url: str, *, days: int = 42, seed: int = 1) -> None:
    """``make_rms``, then station and delivery times that follow the rules above."""
    make_rms(url, days=days)
    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    with engine.begin() as conn:
        orders = conn.execute(select(demo_rms.orders)).mappings().all()
        lines = conn.execute(select(demo_rms.order_items)).mappings().all()
        ready = {}
        for o in orders:
            at: datetime = o["ordered_at"]
            noise = float(rng.exponential(1.0))
            ready[o["order_id"]] = at + timedelta(
                minutes=ticket_minutes(at.hour + at.minute / 60, noise)
            )
        conn.execute(
            update(demo_rms.order_item_stations)
            .where(demo_rms.order_item_stations.c.order_item_id == bindparam("lid"))
            .values(finished_at=bindparam("done")),
            [{"lid": line["order_item_id"], "done": ready[line["order_id"]]} for line in lines],
        )
        trips = [
            {
                "oid": o["order_id"],
                "done": o["ordered_at"]
                + timedelta(minutes=delivery_minutes(o["delivery_distance"], rng.normal(0, 1))),
            }
            for o in orders
            if o["channel"] == "delivery"
        ]
        conn.execute(
            update(demo_rms.orders)
            .where(demo_rms.orders.c.order_id == bindparam("oid"))
            .values(delivered_at=bindparam("done")),
            trips,
        )
    engine.dispose()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    path: Path = tmp_path_factory.mktemp("kitchen")
    url = f"sqlite:///{path / 'rms.sqlite'}"
    make_timed_rms(url)
    mp = pytest.MonkeyPatch()
    mp.setenv("FORESIGHT_RESTAURANT_RMS_URL", url)
    p = Platform.create(make_settings(path / "fs", **FAST))
    p.service_of(RestaurantService).sync_now()
    for spec in p.app("restaurant").models():
        if spec.name in (KITCHEN, DELIVERY):
            assert spec.train(p, lambda *_: None).promoted
    yield p, url
    p.close()
    mp.undo()


@pytest.fixture(scope="module")
def client(trained: tuple[Platform, str]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(trained[0])) as c:
        yield c, make_keys(trained[0])["service"]


def post(c: TestClient, key: dict[str, str], url: str, body: dict) -> dict:
    answer = c.post(url, json=body, headers=key)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def basket(n: int = 2) -> list[dict]:
    return [{"item_id": "margherita", "size": "M", "quantity": n}]


def test_training_beats_its_rule_and_the_median_on_held_out_orders(
    trained: tuple[Platform, str],
) -> None:
    p, _ = trained
    for name in (KITCHEN, DELIVERY):
        mv = p.registry.production(name)
        assert mv is not None and mv.algorithm == "restaurant_minutes"
        m = mv.metrics
        # The data's times are a rule plus noise: both the blend and the rule fitted at
        # training are far closer than the median on the latest orders, never seen.
        assert m["holdout_mae_minutes"] < 0.6 * m["median_holdout_mae_minutes"], m
        assert m["rule_holdout_mae_minutes"] < 0.6 * m["median_holdout_mae_minutes"], m
        assert 0.8 < m["holdout_coverage_minutes"] <= 1.0
        assert mv.fallback["kind"] == "rate_rule"  # the rule link needs no artifact
    # The delivery rule read the road's rate from the training rows: 3 min per unit.
    rule = RateRule.from_dict(p.registry.production(DELIVERY).fallback)  # type: ignore[union-attr]
    assert rule.rates["distance"] == pytest.approx(3.0, abs=0.4)


def test_a_ticket_answer_follows_the_kitchen_and_names_its_load(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, key = client
    late = post(c, key, KITCHEN_URL, {"items": basket(), "ordered_at": FRIDAY_EVENING})
    assert late["method"] == "blend" and late["fallback"] is None
    assert late["model_version"] == f"{KITCHEN}:v1" and late["level"] == 90
    assert late["lower"] <= late["ticket_minutes"] <= late["upper"]
    # 6 + 0.8 × 9 hours + an exponential mean of 1 ≈ 14 minutes at 20:00.
    assert 11 < late["ticket_minutes"] < 17
    assert late["load"]["source"] == "mirror" and late["ordered_at"] == "2015-04-10T20:00"
    early = post(c, key, KITCHEN_URL, {"items": basket(), "ordered_at": FRIDAY_NOON})
    assert early["ticket_minutes"] < late["ticket_minutes"] - 3
    given = post(
        c,
        key,
        KITCHEN_URL,
        {"items": basket(), "ordered_at": FRIDAY_EVENING, "open_tickets": 3, "items_in_queue": 7},
    )
    assert given["load"]["source"] == "request+mirror"
    assert given["load"]["open_tickets"] == 3 and given["load"]["items_in_queue"] == 7


def test_an_item_answer_has_station_minutes(client: tuple[TestClient, dict[str, str]]) -> None:
    c, key = client
    params = {"item_id": "veggie", "ordered_at": FRIDAY_EVENING}
    body = c.get(KITCHEN_URL, params=params, headers=key).json()
    assert body["size"] == "L"  # its only size
    (oven,) = body["stations"]
    assert oven["station_id"] == "oven" and oven["lines"] > 20
    assert oven["p10"] <= oven["median"] <= oven["p90"]
    assert body["lower"] <= body["ticket_minutes"] <= body["upper"]
    again = c.get(KITCHEN_URL, params=params | {"station_id": "oven"}, headers=key).json()
    assert again["stations"] == body["stations"]


def test_a_delivery_answer_grows_with_distance(client: tuple[TestClient, dict[str, str]]) -> None:
    c, key = client
    near = post(
        c, key, DELIVERY_URL, {"hour": 19.5, "day": "Fri", "distance": 1.5, "items": basket()}
    )
    far = post(
        c, key, DELIVERY_URL, {"hour": 19.5, "day": "Fri", "distance": 7.5, "items": basket()}
    )
    assert near["method"] == "blend" and near["model_version"] == f"{DELIVERY}:v1"
    for body in (near, far):
        assert body["lower"] <= body["delivery_minutes"] <= body["upper"]
    # 6 more distance units at 3 minutes each.
    assert far["delivery_minutes"] - near["delivery_minutes"] == pytest.approx(18, abs=4)
    counted = post(
        c, key, DELIVERY_URL, {"hour": 19.5, "day": "Fri", "distance": 1.5, "item_count": 2}
    )
    assert counted["delivery_minutes"] == pytest.approx(near["delivery_minutes"], abs=3)


def test_answers_are_cached_and_dropped_when_new_orders_arrive(
    trained: tuple[Platform, str], client: tuple[TestClient, dict[str, str]]
) -> None:
    c, key = client
    body = {"items": basket(3), "ordered_at": "2015-04-11T13:10:00"}
    trip = {"hour": 13.0, "day": "Sat", "distance": 4.25, "item_count": 3}
    assert post(c, key, KITCHEN_URL, body)["cached"] is False
    assert post(c, key, KITCHEN_URL, body)["cached"] is True
    assert post(c, key, DELIVERY_URL, trip)["cached"] is False
    assert post(c, key, DELIVERY_URL, trip)["cached"] is True
    p, url = trained
    p.service_of(RestaurantService).sync_now()  # nothing new: the cache stands
    assert post(c, key, KITCHEN_URL, body)["cached"] is True
    engine = create_engine(url)
    with engine.begin() as conn:
        at = datetime(2015, 4, 11, 13, 5)
        conn.execute(
            insert(demo_rms.orders),
            [
                {
                    "order_id": 999999,
                    "ordered_at": at,
                    "updated_at": datetime(2015, 4, 12, 23, 59),
                    "channel": "dine_in",
                    "status": "completed",
                }
            ],
        )
    engine.dispose()
    p.service_of(RestaurantService).sync_now()
    fresh = post(c, key, KITCHEN_URL, body)
    assert fresh["cached"] is False
    assert post(c, key, DELIVERY_URL, trip)["cached"] is False


@pytest.mark.parametrize(
    ("url", "body", "status", "field"),
    [
        (KITCHEN_URL, {"items": [{"item_id": "hawaiin", "size": "M"}]}, 404, "items.0.item_id"),
        (KITCHEN_URL, {"items": [{"item_id": "hawaiian", "size": "XL"}]}, 422, "items.0.size"),
        (KITCHEN_URL, {"items": [{"item_id": "margherita"}]}, 422, "items.0.size"),
        (KITCHEN_URL, {"items": []}, 422, "items"),
        (KITCHEN_URL, {"items": basket(0)}, 422, "items.0.quantity"),
        (
            KITCHEN_URL,
            {"items": basket(), "ordered_at": "2015-04-10T03:00:00"},
            422,
            "ordered_at",
        ),
        (KITCHEN_URL, {"items": basket(), "open_tickets": -1}, 422, "open_tickets"),
        (DELIVERY_URL, {"hour": 3.0, "day": "Tue", "distance": 2, "item_count": 1}, 422, "hour"),
        (
            DELIVERY_URL,
            {"hour": 12.0, "day": "Tue", "distance": -1, "item_count": 1},
            422,
            "distance",
        ),
        (DELIVERY_URL, {"hour": 12.0, "day": "Tue", "distance": 2}, 422, "items"),
        (DELIVERY_URL, {"hour": 12.0, "day": "Tue", "distance": 2, "items": []}, 422, "items"),
        (
            DELIVERY_URL,
            {"hour": 12.0, "day": "Tue", "distance": 2, "items": basket(), "item_count": 2},
            422,
            "item_count",
        ),
        (DELIVERY_URL, {"hour": 12.0, "day": "Tues", "distance": 2, "item_count": 1}, 422, "day"),
        (
            DELIVERY_URL,
            {"hour": 12.0, "day": "Tue", "distance": 2, "items": [{"item_id": "calzone"}]},
            404,
            "items.0.item_id",
        ),
    ],
)
def test_bad_requests_name_the_field(
    client: tuple[TestClient, dict[str, str]], url: str, body: dict, status: int, field: str
) -> None:
    c, key = client
    answer = c.post(url, json=body, headers=key)
    assert answer.status_code == status, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    if body.get("items") and body["items"][0]["item_id"] == "hawaiin":
        assert "did you mean 'hawaiian'" in answer.json()["detail"]
    if field == "items.0.size" and "size" in body["items"][0]:
        assert "comes in M" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"item_id": "margheritta"}, 404, "item_id"),
        ({"item_id": "margherita", "size": "S"}, 422, "size"),
        ({"item_id": "veggie", "station_id": "grill"}, 404, "station_id"),
        ({"item_id": "veggie", "ordered_at": "2015-04-10T23:30:00"}, 422, "ordered_at"),
        ({"item_id": "veggie", "ordered_at": "0001-01-01T12:00:00+14:00"}, 422, "ordered_at"),
    ],
)
def test_bad_item_queries_name_the_field(
    client: tuple[TestClient, dict[str, str]], params: dict, status: int, field: str
) -> None:
    c, key = client
    answer = c.get(KITCHEN_URL, params=params, headers=key)
    assert answer.status_code == status, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.text


# AppTest runs this function's source as a script of its own, so it imports what it uses
# and its annotations stay text.
def _kitchen_tab(client: "ApiClient", menu: "dict") -> None:  # noqa: UP037
    from foresight.apps.restaurant import page_kitchen

    page_kitchen.section(client, menu)


def test_the_page_estimates_a_ticket_and_a_delivery(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, key = client

    def through_the_app(request: httpx.Request) -> httpx.Response:
        r = c.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    api = ApiClient(
        "http://testserver", key["X-API-Key"], transport=httpx.MockTransport(through_the_app)
    )
    menu = c.get("/api/v1/restaurant/menu", headers=key).json()
    at = AppTest.from_function(_kitchen_tab, args=(api, menu), default_timeout=30).run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["Ticket ready in", "Delivered in"]
    assert all(m.value.endswith(" min") for m in at.metric)
    captions = " ".join(cap.value for cap in at.caption)
    assert f"blend · model {KITCHEN}:v1" in captions and f"model {DELIVERY}:v1" in captions
    assert "load (mirror)" in captions
    at.multiselect[0].set_value([]).run()  # an empty basket asks for an item, no request
    assert not at.exception and "Pick at least one item." in at.info[0].value
