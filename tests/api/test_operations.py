"""Operator routes and signals: the audit log, scheduled tasks, process metrics, the churn
gauge, the event log and the generated instance secret (webhooks: test_webhooks.py)."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.apps.churn.service import ChurnService
from foresight.platform.runtime import Platform
from tests.conftest import make_keys, make_settings


@pytest.fixture
def ops(platform: Platform) -> Iterator[tuple[TestClient, dict]]:
    with TestClient(create_app(platform)) as client:
        yield client, make_keys(platform)


def test_the_instance_secret_is_generated_into_the_data_dir(tmp_path: Path) -> None:
    p = Platform.create(make_settings(tmp_path))
    secret = tmp_path / "secret.key"
    assert secret.exists() and len(secret.read_text()) >= 48
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    p.close()
    again = Platform.create(make_settings(tmp_path))
    assert again.settings.secret_key == secret.read_text().strip()  # kept, not regenerated
    again.close()


def test_audit_log_is_readable_filtered_and_admin_only(ops) -> None:
    client, keys = ops
    for name in ("crm", "bi"):
        r = client.post(
            "/api/v1/admin/keys", json={"name": name, "role": "service"}, headers=keys["admin"]
        )
        assert r.status_code == 201
    client.delete("/api/v1/admin/keys/4", headers=keys["admin"])
    page = client.get("/api/v1/admin/audit", headers=keys["admin"]).json()
    assert page["total"] == 3 and [e["action"] for e in page["items"]] == [
        "key.revoke",
        "key.create",
        "key.create",
    ]
    only = client.get(
        "/api/v1/admin/audit", params={"action": "key.create", "limit": 1}, headers=keys["admin"]
    ).json()
    assert only["total"] == 2 and len(only["items"]) == 1 and only["items"][0]["target"] == "bi"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = client.get("/api/v1/admin/audit", params={"since": later}, headers=keys["admin"])
    assert none.json()["total"] == 0
    assert client.get("/api/v1/admin/audit", headers=keys["analyst"]).status_code == 403


def test_schedule_route_lists_tasks_and_runs_one_for_admins(ops) -> None:
    client, keys = ops
    tasks = client.get("/api/v1/schedule", headers=keys["analyst"]).json()
    assert {t["name"] for t in tasks} >= {"train:churn", "train:sales", "retention"}
    assert client.post("/api/v1/schedule/retention/run", headers=keys["analyst"]).status_code == 403
    ran = client.post("/api/v1/schedule/retention/run", headers=keys["admin"]).json()
    assert ran["last_status"] == "succeeded" and ran["runs"] == 1
    missing = client.post("/api/v1/schedule/nope/run", headers=keys["admin"])
    assert missing.status_code == 404


def _gauge(text: str) -> float:
    match = re.search(r"^foresight_churn_high_risk_customers (\S+)$", text, re.M)
    assert match, "gauge missing"
    return float(match.group(1))


def test_metrics_have_process_figures_and_a_live_high_risk_gauge(
    api: TestClient, keys: dict, trained: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = api.get("/metrics").text
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"):
        assert f"\n{name} " in text
    before = _gauge(text)
    service = trained.service_of(ChurnService)
    monkeypatch.setattr(service.settings, "gauge_refresh_seconds", 0.0)  # no wait to recount
    low = service.at_risk(tier="low", limit=1)[0].customer_id
    stored = dict(service.customer(low))
    risky = stored | {
        "contract": "Month-to-month",
        "tenure": 1,
        "internet_service": "Fiber optic",
        "payment_method": "Electronic check",
        "online_security": "No",
        "tech_support": "No",
    }

    def predict(features: dict) -> dict:
        body = {"customer_id": low, "features": features, "explain": False}
        return api.post("/api/v1/churn/predict", json=body, headers=keys["service"]).json()

    try:
        assert predict(risky)["risk_tier"] == "high"
        # No /risk-summary call in between: the gauge follows predictions by itself.
        assert _gauge(api.get("/metrics").text) == before + 1
    finally:  # the session's platform is shared: the customer is low risk again
        assert predict(stored)["risk_tier"] == "low"


def test_announcements_are_kept_in_the_event_log(ops, platform: Platform) -> None:
    client, keys = ops
    platform.announce("model.gate_failed", {"model": "m", "reason": "worse"})
    platform.announce("drift.detected", {"model": "m", "share_drifted": 0.5})
    events = client.get("/api/v1/admin/events", headers=keys["admin"]).json()
    assert [(e["type"], e["key"]) for e in events] == [
        ("model.gate_failed", "m"),
        ("drift.detected", "m"),
    ]
    later = client.get(
        "/api/v1/admin/events",
        params={"since": events[0]["offset"], "type": "drift.detected"},
        headers=keys["admin"],
    ).json()
    assert [e["payload"]["share_drifted"] for e in later] == [0.5]
    assert client.get("/api/v1/admin/events", headers=keys["analyst"]).status_code == 403
