"""High-risk alerts behind the request: a failing alert path never fails an answered
prediction, alerts fire once per transition, and a batch forgets only its own
customers' remembered tiers. With Redis killed, imports and batches still succeed.

The module trains one small platform of its own, on a Redis server of its own."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from foresight.api.app import create_app
from foresight.apps.churn.alerts import HIGH_RISK_EVENT
from foresight.apps.churn.service import ChurnService
from foresight.platform.runtime import Platform
from tests.apps.churn.test_batch import wait_done
from tests.conftest import make_customers, make_keys, make_settings
from tests.servers import RedisServer

RISKY = {"plan": "basic", "monthly_visits": 0, "spend": 250.0}
SAFE = {"plan": "pro", "monthly_visits": 12, "spend": 10.0}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], Platform]]:
    path = tmp_path_factory.mktemp("alerts")
    platform = Platform.create(make_settings(path, redis_url=redis_server.url))
    platform.cache.l2_retry_after = 0.2
    service = platform.service_of(ChurnService)
    service.import_frame(make_customers(300), source="t", id_column="account", target_column="left")
    service.train()
    with TestClient(create_app(platform)) as client:
        yield client, make_keys(platform), platform
    platform.close()


def predict(env: Any, customer_id: str, features: dict[str, Any]) -> dict[str, Any]:
    client, keys, _ = env
    r = client.post(
        "/api/v1/churn/predict",
        json={"customer_id": customer_id, "features": features, "explain": False},
        headers=keys["service"],
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def alerts_for(platform: Platform, customer_id: str) -> list[dict[str, Any]]:
    platform.service_of(ChurnService).flush()  # the checks queued behind the answers
    events = platform.events.read(types=[HIGH_RISK_EVENT])
    return [e.payload for e in events if e.payload["customer_id"] == customer_id]


def test_an_alert_fires_once_per_transition_to_high(env: Any) -> None:
    _, _, platform = env
    tiers = [predict(env, "T1", f)["risk_tier"] for f in (SAFE, RISKY, RISKY, SAFE, RISKY)]
    assert tiers == ["low", "high", "high", "low", "high"]
    sent = alerts_for(platform, "T1")
    assert [a["previous_tier"] for a in sent] == ["low", "low"]


def test_a_failing_alert_path_still_answers_and_logs_the_prediction(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, platform = env
    service = platform.service_of(ChurnService)

    def database_away(ids: Any) -> dict[str, str | None]:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(service.store, "latest_tiers", database_away)
    assert predict(env, "T2", RISKY)["risk_tier"] == "high"  # used to be a 503
    assert [r.risk_tier for r in service.history("T2")] == ["high"]  # logged all the same
    assert alerts_for(platform, "T2") == []


def test_a_batch_forgets_only_its_own_customers_remembered_tiers(env: Any) -> None:
    client, keys, platform = env
    service = platform.service_of(ChurnService)
    predict(env, "T3", SAFE)
    service.flush()
    assert service.cache.get("tier:T3") == "low"
    batch = [{"customer_id": f"B{i}", **SAFE} for i in range(3)]
    r = client.post(
        "/api/v1/churn/predict/batch", json={"customers": batch}, headers=keys["service"]
    )
    assert wait_done(client, r.json()["status_url"], keys["service"])["status"] == "done"
    assert service.cache.get("tier:T3") == "low"  # used to be cleared with every chunk
    r = client.post(
        "/api/v1/churn/predict/batch",
        json={"customers": [{"customer_id": c, **RISKY} for c in ("T3", "B9")]},
        headers=keys["service"],
    )
    assert wait_done(client, r.json()["status_url"], keys["service"])["status"] == "done"
    assert service.cache.get("tier:T3") is None
    assert [a["previous_tier"] for a in alerts_for(platform, "T3")] == ["low"]


def test_imports_and_batches_succeed_while_redis_is_away(
    env: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    client, keys, _ = env
    redis_server.signal(signal.SIGKILL)
    redis_server.proc.wait(timeout=5)  # type: ignore[union-attr]
    try:
        csv = make_customers(300).to_csv(index=False)
        r = client.post(
            "/api/v1/churn/import",
            params={"id_column": "account", "target_column": "left"},
            content=csv,
            headers=keys["admin"] | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text  # used to be a 500 after the import committed
        batch = [{"customer_id": f"R{i}", **RISKY} for i in range(3)]
        r = client.post(
            "/api/v1/churn/predict/batch", json={"customers": batch}, headers=keys["service"]
        )
        assert wait_done(client, r.json()["status_url"], keys["service"])["status"] == "done"
        assert predict(env, "T4", RISKY)["risk_tier"] == "high"
    finally:
        redis_server.start()
