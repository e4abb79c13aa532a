"""The whole API on the production backends: PostgreSQL for storage, Redis for the L2
cache and shared rate limits (real servers on 127.0.0.1, scratch database and prefix)."""

from __future__ import annotations

import json
import time

import redis
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.apps.churn.service import ChurnService
from foresight.platform.runtime import Platform
from tests.conftest import REDIS_URL, make_customers, make_settings


def test_churn_end_to_end_on_postgresql_and_redis(tmp_path, pg_url, redis_prefix) -> None:
    settings = make_settings(
        tmp_path,
        database_url=pg_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        rate_limit="40/minute",
        tuning_trials=2,
    )
    platform = Platform.create(settings)
    assert platform.db.engine.dialect.name == "postgresql"
    service = platform.service_of(ChurnService)
    service.import_frame(
        make_customers(300, seed=5), source="test", id_column="account", target_column="left"
    )
    outcome = service.train()
    assert outcome.promoted and outcome.version.metrics["roc_auc"] > 0.7
    key, _ = platform.keys.create(name="pg", role="admin")
    headers = {"X-API-Key": key}
    with TestClient(create_app(platform)) as client:
        r = client.post("/api/v1/churn/predict", json={"customer_id": "A0001"}, headers=headers)
        assert r.status_code == 200 and r.json()["model_version"] == "churn:v1"
        # The customer lookup went through the cache, and Redis holds it for other replicas.
        client.post("/api/v1/churn/predict", json={"customer_id": "A0001"}, headers=headers)
        stored = redis.Redis.from_url(REDIS_URL).get(f"{redis_prefix}cache:churn:customer:A0001")
        assert stored is not None and json.loads(stored)["plan"] in {"basic", "plus", "pro"}

        job = client.post(
            "/api/v1/churn/predict/batch",
            headers=headers,
            json={
                "customers": [
                    {"account": "X1", "plan": "basic", "monthly_visits": 1, "spend": 99.0},
                    {"account": "X2", "plan": "gold", "monthly_visits": 1, "spend": 9.0},
                ]
            },
        )
        for _ in range(100):
            status = client.get(job.json()["status_url"], headers=headers).json()
            if status["status"] == "done":
                break
            time.sleep(0.05)
        assert (status["summary"]["scored"], status["summary"]["rejected"]) == (1, 1)

        history = client.get("/api/v1/churn/customers/A0001/predictions", headers=headers).json()
        # Training scored every stored customer, then the two API calls: all on PostgreSQL.
        assert [h["source"] for h in history] == ["api", "api", "batch"]
        assert all(h["model_version"] == "churn:v1" for h in history)

        # The limit is counted in Redis: a second replica shares it.
        replica = Platform.create(settings, migrate_db=False)
        with TestClient(create_app(replica)) as other:
            codes = [other.get("/api/v1/models", headers=headers).status_code for _ in range(40)]
        assert 429 in codes
        r = client.get("/api/v1/models", headers=headers)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        replica.close()
    platform.close()


def test_json_logs_carry_the_request_id(api, keys, capsys, monkeypatch) -> None:
    import structlog

    from foresight.api import middleware
    from foresight.platform.logging import configure_logging

    configure_logging("INFO", json=True)
    # Loggers cache their configuration on first use (fast, and right for a server that
    # configures once); earlier tests in this process may have used this one already.
    monkeypatch.setattr(middleware, "log", structlog.get_logger("foresight.access"))
    try:
        api.get("/api/v1/models", headers={**keys["analyst"], "X-Request-ID": "req-42"})
        lines = [
            json.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")
        ]
    finally:
        configure_logging("WARNING", json=False)
    access = [x for x in lines if x.get("event") == "request"]
    assert access and access[-1]["request_id"] == "req-42"
    assert access[-1]["route"] == "/api/v1/models" and access[-1]["status"] == 200
    assert not any(keys["analyst"]["X-API-Key"] in json.dumps(x) for x in lines)  # no secrets
