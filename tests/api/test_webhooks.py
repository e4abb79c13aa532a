"""The webhook admin routes: URL checks (422 saying what to fix), subscriptions with their
counters, removal, dead deliveries and their replay, events announced once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import make_keys, make_settings

HOOKS = "/api/v1/admin/webhooks"


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[tuple[Platform, TestClient, dict, dict]]:
    """A platform whose dispatcher the test drives (``drain``), a receiver that answers
    ``state["status"]``, the client and the keys."""
    platform = Platform.create(make_settings(tmp_path, webhook_dispatch=False))
    state: dict = {"status": 200, "requests": []}

    def receive(request: httpx.Request) -> httpx.Response:
        state["requests"].append(request)
        return httpx.Response(state["status"])

    platform.notifier.client = httpx.Client(transport=httpx.MockTransport(receive))
    with TestClient(create_app(platform)) as client:
        yield platform, client, make_keys(platform), state
    platform.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://", "has no host"),
        ("http:///x", "has no host"),
        ("ftp://crm.example/h", "must start with http:// or https://"),
        ("crm.example/h", "must start with http:// or https://"),
        ("http://crm.example:0x50/h", "not a valid URL"),
    ],
)
def test_a_url_without_http_or_host_is_a_422_saying_what_to_fix(hooks, url, words) -> None:
    _, client, keys, _ = hooks
    r = client.post(HOOKS, json={"url": url, "events": ["*"]}, headers=keys["admin"])
    assert r.status_code == 422
    body = r.json()
    assert words in body["detail"] and "https://" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["url"]
    assert client.get(HOOKS, headers=keys["admin"]).json() == []


def test_a_misspelt_event_is_a_422_naming_the_known_one(hooks) -> None:
    _, client, keys, _ = hooks
    body = {"url": "https://crm.example/h", "events": ["churn.high_rsk"]}
    r = client.post(HOOKS, json=body, headers=keys["admin"])
    assert r.status_code == 422 and "churn.high_risk" in r.json()["detail"]
    assert client.get(HOOKS, headers=keys["admin"]).json() == []


def test_subscribe_announce_list_and_remove(hooks) -> None:
    platform, client, keys, state = hooks
    created = client.post(
        HOOKS,
        json={"url": "https://crm.example/h", "events": ["model.gate_failed"]},
        headers=keys["admin"],
    )
    assert created.status_code == 201 and len(created.json()["secret"]) >= 16
    hook_id = created.json()["id"]
    platform.announce("model.gate_failed", {"model": "m"}, idempotency_key="gate:m:3")
    platform.announce("model.gate_failed", {"model": "m"}, idempotency_key="gate:m:3")
    platform.announce("model.gate_failed", {"model": "m"}, idempotency_key="gate:m:4")
    [listed] = client.get(HOOKS, headers=keys["admin"]).json()
    assert (listed["lag"], listed["delivered"], listed["active"]) == (2, 0, True)
    platform.notifier.drain()
    assert len(state["requests"]) == 2  # the repeated announcement is sent once
    [listed] = client.get(HOOKS, headers=keys["admin"]).json()
    assert (listed["lag"], listed["delivered"], listed["failed"]) == (0, 2, 0)
    assert "secret" not in listed

    assert client.delete(f"{HOOKS}/{hook_id}", headers=keys["admin"]).status_code == 204
    platform.announce("model.gate_failed", {"model": "m"})
    platform.notifier.drain()
    assert len(state["requests"]) == 2  # removed: nothing more
    assert client.get(HOOKS, headers=keys["admin"]).json()[0]["active"] is False
    assert client.delete(f"{HOOKS}/999", headers=keys["admin"]).status_code == 404
    assert client.delete(f"{HOOKS}/{hook_id}", headers=keys["analyst"]).status_code == 403
    audit = client.get("/api/v1/admin/audit", headers=keys["admin"]).json()["items"]
    assert [e["action"] for e in audit[:2]] == ["webhook.remove", "webhook.create"]


def test_dead_deliveries_are_listed_and_replayed(hooks) -> None:
    platform, client, keys, state = hooks
    state["status"] = 503
    hook = client.post(
        HOOKS, json={"url": "https://crm.example/h", "events": ["*"]}, headers=keys["admin"]
    ).json()
    platform.announce("model.gate_failed", {"model": "x"})
    platform.notifier.drain()
    dead = client.get(f"{HOOKS}/deliveries", params={"status": "dead"}, headers=keys["admin"])
    [row] = dead.json()
    assert row["attempts"] == 5 and row["last_error"] == "HTTP 503"
    assert row["dedup_id"] == f"event-{row['event_offset']}"
    assert client.get(HOOKS, headers=keys["admin"]).json()[0]["failed"] == 1

    state["status"] = 200
    r = client.post(f"{HOOKS}/deliveries/{row['id']}/replay", headers=keys["admin"])
    assert r.status_code == 200 and r.json() == {"id": row["id"], "status": "pending"}
    platform.notifier.drain()
    [again] = client.get(f"{HOOKS}/deliveries", headers=keys["admin"]).json()
    assert again["status"] == "delivered" and again["attempts"] == 6  # 5 failed + 1 replayed
    assert state["requests"][-1].headers["X-Foresight-Delivery"] == row["dedup_id"]
    r = client.post(f"{HOOKS}/deliveries/{row['id']}/replay", headers=keys["admin"])
    assert r.status_code == 409  # only undelivered ones
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=keys["admin"]).status_code == 204
    state["status"] = 503
    platform.announce("model.gate_failed", {"model": "x"})
    platform.notifier.drain()
    # Removed: nothing more sent (5 failed + 1 replayed) nor stored as dead.
    assert len(state["requests"]) == 6 and len(platform.notifier.deliveries()) == 1
    bad = client.get(f"{HOOKS}/deliveries", params={"status": "lost"}, headers=keys["admin"])
    assert bad.status_code == 422


def test_the_routes_declare_their_answers(hooks) -> None:
    _, client, _, _ = hooks
    paths = client.get("/openapi.json").json()["paths"]
    ok = paths[HOOKS]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["items"]["$ref"].endswith("/WebhookOut")
    created = paths[HOOKS]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/WebhookCreated")
