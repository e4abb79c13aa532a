"""Demand through the API on a small RMS: per hour and day, closed slots at zero,
intervals, the cache and its invalidation, and the 4xx cases naming their field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert

from foresight.api.app import create_app
from foresight.apps.restaurant import demo_rms
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.runtime import Platform
from foresight.platform.training import no_progress
from tests.apps.restaurant.conftest import make_rms
from tests.conftest import make_keys, make_settings

URL = "/api/v1/restaurant/demand"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    path: Path = tmp_path_factory.mktemp("restaurant")
    url = f"sqlite:///{path / 'rms.sqlite'}"
    make_rms(url, days=42)
    mp = pytest.MonkeyPatch()
    mp.setenv("FORESIGHT_RESTAURANT_RMS_URL", url)
    p = Platform.create(make_settings(path / "fs"))
    service = p.service_of(RestaurantService)
    service.sync_now()
    outcome = service.train_demand(no_progress)
    assert outcome.promoted
    yield p, url
    p.close()
    mp.undo()


@pytest.fixture(scope="module")
def client(trained: tuple[Platform, str]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(trained[0])) as c:
        yield c, make_keys(trained[0])["service"]


def test_daily_and_hourly_forecasts_respect_opening_hours(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, key = client
    menu = c.get("/api/v1/restaurant/menu", headers=key).json()
    first = menu["forecast_from"]
    assert first == "2015-04-13"  # the day after the last one in the RMS
    day = c.get(URL, params={"start": first, "end": "2015-04-19"}, headers=key)
    assert day.status_code == 200, day.text
    body = day.json()
    assert body["method"] == "ensemble" and body["fallback"] is None
    assert len(body["points"]) == 7 and all(p["open"] for p in body["points"])
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in body["points"])
    # About 2 × 2 items an hour on weekdays and 3 × 2 on Fri/Sat, 12 hours a day.
    assert 30 < body["points"][0]["value"] < 70
    hour = c.get(
        URL,
        params={"start": first, "end": first, "granularity": "hour", "measure": "orders"},
        headers=key,
    ).json()
    assert len(hour["points"]) == 24
    shut = [p for p in hour["points"] if not p["open"]]
    assert len(shut) == 12  # 23:00–11:00
    assert all(p["value"] == p["lower"] == p["upper"] == 0 for p in shut)
    assert sum(p["value"] for p in hour["points"] if p["open"]) > 10


def test_an_item_per_hour_is_top_down_and_a_category_is_forecast(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, key = client
    item = c.get(
        URL,
        params={
            "start": "2015-04-13",
            "end": "2015-04-13",
            "granularity": "hour",
            "item_id": "veggie",
        },
        headers=key,
    ).json()
    assert item["method"] == "top_down" and item["series"] == "items:item:veggie"
    cat = c.get(
        URL, params={"start": "2015-04-13", "end": "2015-04-14", "category": "veggie"}, headers=key
    )
    assert cat.json()["series"] == "items:category:veggie"


def test_answers_are_cached_and_dropped_when_new_orders_arrive(
    trained: tuple[Platform, str], client: tuple[TestClient, dict[str, str]]
) -> None:
    c, key = client
    params = {"start": "2015-04-13", "end": "2015-04-15", "measure": "orders"}
    assert c.get(URL, params=params, headers=key).json()["cached"] is False
    assert c.get(URL, params=params, headers=key).json()["cached"] is True
    p, url = trained
    p.service_of(RestaurantService).sync_now()  # nothing new: the cache stands
    assert c.get(URL, params=params, headers=key).json()["cached"] is True
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(demo_rms.orders),
            [
                {
                    "order_id": 999999,
                    "ordered_at": datetime(2015, 4, 12, 20),
                    "updated_at": datetime(2015, 4, 12, 23, 59),
                    "channel": "dine_in",
                    "status": "completed",
                }
            ],
        )
    engine.dispose()
    p.service_of(RestaurantService).sync_now()
    assert c.get(URL, params=params, headers=key).json()["cached"] is False


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"start": "2015-04-15", "end": "2015-04-13"}, 422, "end"),
        ({"start": "2015-04-13", "end": "2015-06-30"}, 422, "end"),
        ({"start": "2015-04-01", "end": "2015-04-14"}, 422, "start"),
        ({"start": "2015-04-13", "end": "2015-04-14", "item_id": "hawaiin"}, 404, "item_id"),
        ({"start": "2015-04-13", "end": "2015-04-14", "category": "dessert"}, 404, "category"),
        (
            {"start": "2015-04-13", "end": "2015-04-14", "item_id": "veggie", "category": "veggie"},
            422,
            "category",
        ),
        (
            {"start": "2015-04-13", "end": "2015-04-14", "restaurant_id": "other"},
            404,
            "restaurant_id",
        ),
        ({"start": "2015-04-13", "end": "2015-04-14", "level": 120}, 422, "level"),
    ],
)
def test_bad_demand_queries_name_the_field(
    client: tuple[TestClient, dict[str, str]], params: dict[str, object], status: int, field: str
) -> None:
    c, key = client
    answer = c.get(URL, params=params, headers=key)
    assert answer.status_code == status, answer.text
    assert field in answer.text
    if params.get("item_id") == "hawaiin":
        assert "did you mean 'hawaiian'" in answer.json()["detail"]


def test_without_a_model_the_rule_answers_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'rms.sqlite'}"
    make_rms(url, days=21)
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", url)
    p = Platform.create(make_settings(tmp_path / "fs"))
    p.service_of(RestaurantService).sync_now()
    with TestClient(create_app(p)) as c:
        key = make_keys(p)["service"]
        body = c.get(URL, params={"start": "2015-03-23", "end": "2015-03-29"}, headers=key).json()
    assert body["fallback"] == "default" and body["method"] == "default"
    assert body["points"][0]["value"] > 0
    p.close()
