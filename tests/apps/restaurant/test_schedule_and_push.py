"""The seed's schedule and push pattern, and the RMS in ``/health`` and ``/metrics``:
the app's tasks shown by ``foresight schedule``; a scheduled training POSTs its
predictions to a subscribed webhook (signed, retried after a 500) while ``foresight
train`` does not; the sync task reads new rows; an RMS that goes away turns ``/health``
degraded at once while answers keep coming from the mirror."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert
from typer.testing import CliRunner

from foresight.api.app import create_app
from foresight.apps.restaurant import demo_rms, push
from foresight.apps.restaurant.customers import CUSTOMERS
from foresight.apps.restaurant.service import RestaurantService
from foresight.cli import app as cli
from foresight.platform.notify import verify
from foresight.platform.runtime import Platform
from foresight.platform.training import no_progress
from tests.conftest import make_keys, make_settings

HOOKS = "/api/v1/admin/webhooks"
EVENT = "restaurant.predictions"


@pytest.fixture
def pushed(
    tmp_path: Path, rms: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Platform, TestClient, dict[str, Any], dict[str, Any]]]:
    """A platform on the small RMS whose webhook dispatcher the test drives, a receiver
    that answers the statuses queued in ``state["statuses"]`` (then 200), a subscription
    to ``restaurant.predictions`` and the admin keys."""
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", rms[0])
    p = Platform.create(make_settings(tmp_path / "fs", webhook_dispatch=False))
    state: dict[str, Any] = {"statuses": [], "requests": []}

    def receive(request: httpx.Request) -> httpx.Response:
        state["requests"].append(request)
        return httpx.Response(state["statuses"].pop(0) if state["statuses"] else 200)

    p.notifier.client = httpx.Client(transport=httpx.MockTransport(receive))
    with TestClient(create_app(p)) as client:
        keys = make_keys(p)
        hook = client.post(
            HOOKS,
            json={"url": "https://rms.example/predictions", "events": [EVENT]},
            headers=keys["admin"],
        )
        assert hook.status_code == 201, hook.text
        state["secret"] = hook.json()["secret"]
        yield p, client, keys, state
    p.close()


def _only_models_untrained(health: dict[str, Any]) -> bool:
    return all(c["ok"] for k, c in health["components"].items() if not k.startswith("model:"))


def _events(p: Platform) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in p.events.read(types=[EVENT])]


def test_foresight_schedule_shows_the_seeds_schedule(small: Platform) -> None:
    env = {
        "FORESIGHT_DATA_DIR": str(small.settings.data_dir),
        "FORESIGHT_APPS": ",".join(small.settings.apps),
        "COLUMNS": "250",
    }
    r = CliRunner().invoke(cli, ["schedule"], env=env)
    assert r.exit_code == 0, r.output
    cells = [[c.strip() for c in line.split("│")[1:3]] for line in r.output.splitlines()]
    shown = {c[0]: c[1] for c in cells if len(c) == 2}
    assert shown["restaurant:sync"] == "every 5m"
    assert shown["restaurant:full-retrain"] == "monthly 1 02:00"
    assert shown["train:restaurant_demand"] == "daily 03:00"
    assert shown["train:restaurant_customers"] == "weekly sun 04:00"


def test_a_scheduled_training_pushes_signed_predictions_retried_after_a_500(pushed) -> None:
    p, _, _, state = pushed
    p.scheduler.run_now("restaurant:sync")
    p.model_spec("restaurant_demand").train(p, no_progress)  # as `foresight train` does
    assert _events(p) == []  # a manual training is no scheduled run: nothing pushed

    state["statuses"] = [500]
    status = p.scheduler.run_now("train:restaurant_demand")
    assert (status.last_status, status.last_error) == ("succeeded", None)
    [event] = _events(p)
    assert event["model"] == "restaurant_demand" and event["fallback"] is None
    assert event["model_version"] == p.registry.production("restaurant_demand").label
    days = event["predictions"]["days"]
    assert len(days) == 7
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)
    for day in days:
        for measure in ("orders", "items"):
            v = day[measure]
            assert 0 <= v["lower"] <= v["value"] <= v["upper"]
        assert day["items"]["value"] >= day["orders"]["value"]  # two lines per order
    hours = event["predictions"]["next_day_hourly_orders"]
    assert [h["at"][11:13] for h in hours] == [f"{h:02d}" for h in range(11, 23)]  # open only
    assert set(event["predictions"]["items_by_category"]) == {"classic", "veggie"}

    p.notifier.drain()
    first, second = state["requests"]  # the 500 was retried
    assert first.headers["X-Foresight-Delivery"] == second.headers["X-Foresight-Delivery"]
    assert second.headers["X-Foresight-Event"] == EVENT
    body = second.content
    assert verify(state["secret"], second.headers["X-Foresight-Signature"], body, now=time.time())
    assert json.loads(body)["data"]["predictions"]["days"] == days

    assert event["trained_version"] == "restaurant_demand:v2"


def test_the_customer_push_counts_segments_and_names_the_valuable_at_risk(
    trained: Platform,
) -> None:
    service = trained.service_of(RestaurantService)
    sent = push.publish(service, CUSTOMERS)  # what `foresight restaurant push` sends
    pred = sent["predictions"]
    assert _events(trained)[-1] == sent
    with TestClient(create_app(trained)) as client:
        keys = make_keys(trained)
        listed = client.get(
            "/api/v1/restaurant/customers", params={"limit": 1}, headers=keys["analyst"]
        ).json()
        high = client.get(
            "/api/v1/restaurant/customers",
            params={"churn_tier": "high", "limit": 100},
            headers=keys["analyst"],
        ).json()
    assert sum(pred["segments"].values()) == listed["total"] == sum(pred["churn_tiers"].values())
    assert pred["high_risk_by_value"] == [c["customer_id"] for c in high["customers"]]
    assert pred["churn_tiers"]["high"] == high["total"]
    before = len(_events(trained))
    push.publish(service, CUSTOMERS)  # the same predictions again: sent once
    assert len(_events(trained)) == before


def test_the_sync_task_reads_new_rows_and_is_skipped_without_an_rms(
    tmp_path: Path,
    rms: tuple[str, dict[str, int]],
    small: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small.scheduler.run_now("restaurant:sync")
    service = small.service_of(RestaurantService)
    before = len(service.store.orders())
    engine = create_engine(rms[0])
    at = datetime(2015, 4, 13, 12, 30)
    with engine.begin() as conn:
        conn.execute(
            insert(demo_rms.orders),
            [
                {
                    "order_id": 99_999,
                    "restaurant_id": "main",
                    "ordered_at": at,
                    "updated_at": at,
                    "channel": "dine_in",
                    "status": "completed",
                }
            ],
        )
    engine.dispose()
    status = small.scheduler.run_now("restaurant:sync")
    assert status.last_status == "succeeded", status.last_error
    assert len(service.store.orders()) == before + 1
    # New data re-scores every customer, so the list agrees with a lookup.
    listed, total = service.store.scores(
        segment=None, churn_tier=None, min_clv=None, order_by="clv", limit=1, offset=0
    )
    assert total == len(service.customers.data()[1]) > 0
    one = service.customers.lookup(str(listed["customer_id"].iloc[0]))
    assert one["rfm"]["segment"] == listed["segment"].iloc[0]

    monkeypatch.delenv("FORESIGHT_RESTAURANT_RMS_URL")
    bare = Platform.create(make_settings(tmp_path / "bare"))  # no RMS, no demo yet
    try:
        assert not bare.service_of(RestaurantService).has_rms()  # the due guard vetoes
    finally:
        bare.close()


def test_an_rms_away_turns_health_degraded_and_answers_keep_coming(pushed) -> None:
    p, client, keys, _ = pushed
    service = p.service_of(RestaurantService)
    service.sync_now()
    service.rms_health.probe()
    health = client.get("/health").json()
    rms = health["components"]["restaurant:rms"]
    assert rms["ok"] is True and rms["read_only"] == "session+role" and rms["lag_seconds"] > 0
    assert health["status"] == "healthy" or _only_models_untrained(health)
    demand = {"start": "2015-04-13", "end": "2015-04-14"}
    # No model trained yet: the fallback chain answers from the mirror.
    assert client.get(
        "/api/v1/restaurant/demand", params=demand, headers=keys["service"]
    ).is_success

    service.close()  # the RMS goes away: its file is gone
    rms_file = Path(service.rms_url.removeprefix("sqlite:///"))
    rms_file.rename(rms_file.with_suffix(".gone"))
    with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises
        service.sync_now()
    health = client.get("/health").json()  # the failed sync is seen at once, no probe wait
    assert health["status"] == "degraded"
    entry = health["components"]["restaurant:rms"]
    assert entry["ok"] is False and "rms.sqlite" in entry["error"]
    r = client.get("/api/v1/restaurant/demand", params=demand, headers=keys["service"])
    assert r.status_code == 200 and r.json()["cached"] is True  # still served from the mirror

    rms_file.with_suffix(".gone").rename(rms_file)
    assert service.rms_health.probe()["ok"] is True
    assert client.get("/health").json()["components"]["restaurant:rms"]["ok"] is True


def test_metrics_count_synced_rows_and_show_the_lag(pushed, rms) -> None:
    p, client, _, _ = pushed
    p.service_of(RestaurantService).sync_now()
    text = client.get("/metrics").text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith('foresight_restaurant_synced_rows_total{table="orders"}')
    )
    assert float(line.split()[-1]) == rms[1]["orders"]
    lag = next(x for x in text.splitlines() if x.startswith("foresight_restaurant_rms_lag_seconds"))
    assert float(lag.split()[-1]) > timedelta(days=365).total_seconds()  # 2015 data, clock now


def test_kitchen_delivery_and_inventory_pushes_are_compact_and_sane(trained: Platform) -> None:
    service = trained.service_of(RestaurantService)
    menu = service.menu()
    sizes = sum(max(1, len(item["sizes"])) for item in menu["items"])
    kitchen = push.publish(service, "restaurant_kitchen")
    assert len(kitchen["predictions"]["items"]) == sizes
    for row in kitchen["predictions"]["items"]:
        assert 0 < row["lower"] <= row["ticket_minutes"] <= row["upper"]
    delivery = push.publish(service, "restaurant_delivery")["predictions"]
    hours = {(r["day"], r["hour"]) for r in delivery["by_hour"]}
    assert ("Fri", 19) in hours and ("Fri", 3) not in hours  # open hours only
    assert all(len(r["minutes"]) == 3 and min(r["minutes"]) > 0 for r in delivery["by_hour"])
    inventory = push.publish(service, "restaurant_inventory")
    for body in (kitchen, delivery, inventory):
        assert len(json.dumps(body)) < 64_000


def test_the_monthly_full_retrain_trains_what_is_due_and_one_failure_stops_none(pushed) -> None:
    p, _, _, _ = pushed
    # Six weeks, 40 customers, no recipes: customers and inventory are not due, so they
    # are skipped (not failed and retried hourly). The small RMS's tickets and deliveries
    # all take the same minutes, so those two fail; demand is still trained and pushed.
    status = p.scheduler.run_now("restaurant:full-retrain")
    assert status.last_status == "failed"
    error = status.last_error or ""
    assert "restaurant_kitchen, restaurant_delivery failed" in error
    assert "'restaurant_demand': 'restaurant_demand:v1 promoted'" in error
    assert "'restaurant_inventory': 'skipped: not due" in error
    assert p.registry.production("restaurant_demand") is not None
    for name in ("restaurant_customers", "restaurant_inventory", "restaurant_kitchen"):
        assert p.registry.production(name) is None, name
    assert [e["model"] for e in _events(p)] == ["restaurant_demand"]


def test_without_an_rms_health_says_so_and_stays_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORESIGHT_RESTAURANT_RMS_URL", raising=False)
    p = Platform.create(make_settings(tmp_path / "bare"))
    try:
        with TestClient(create_app(p)) as client:
            entry = client.get("/health").json()["components"]["restaurant:rms"]
        assert entry == {"ok": True, "configured": False, "app": "restaurant"}
    finally:
        p.close()
