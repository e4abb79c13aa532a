"""Auth (401/403/429), security headers, health probes and metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import tests.example_app
from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import make_settings
from tests.example_app import TipsApp


def test_missing_and_invalid_keys_get_401(api: TestClient) -> None:
    r = api.post("/api/v1/churn/predict", json={"customer_id": "C00001"})
    assert r.status_code == 401 and "missing API key" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = api.get("/api/v1/models", headers={"X-API-Key": "fs_dead_beef"})
    assert r.status_code == 401 and "invalid" in r.json()["detail"]


def test_bearer_token_is_accepted(api: TestClient, keys) -> None:
    token = keys["analyst"]["X-API-Key"]
    assert (
        api.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def test_roles_get_403_outside_their_permissions(api: TestClient, keys) -> None:
    assert api.get("/api/v1/models", headers=keys["service"]).status_code == 403
    r = api.post("/api/v1/models/churn/rollback", headers=keys["analyst"])
    assert r.status_code == 403 and "analyst" in r.json()["detail"]
    assert api.get("/api/v1/admin/keys", headers=keys["analyst"]).status_code == 403
    assert (
        api.post(
            "/api/v1/churn/predict", json={"customer_id": "C00001"}, headers=keys["service"]
        ).status_code
        == 200
    )


def test_rate_limit_answers_429_with_retry_after(tmp_path) -> None:
    platform = Platform.create(make_settings(tmp_path, rate_limit="3/minute"))
    plain, _ = platform.keys.create(name="burst", role="admin")
    other, _ = platform.keys.create(name="calm", role="admin")
    with TestClient(create_app(platform)) as client:
        codes = [
            client.get("/api/v1/models", headers={"X-API-Key": plain}).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = client.get("/api/v1/models", headers={"X-API-Key": plain})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert client.get("/api/v1/models", headers={"X-API-Key": other}).status_code == 200
    platform.close()


def test_security_headers_and_request_id(api: TestClient) -> None:
    r = api.get("/live", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert len(api.get("/live").headers["x-request-id"]) == 32


def test_probes(api: TestClient) -> None:
    assert api.get("/live").json() == {"status": "alive"}
    assert api.get("/ready").json()["database"] is True
    health = api.get("/health").json()
    assert health["status"] == "healthy"
    assert health["components"]["model:churn"]["version"].startswith("churn:v")


def test_an_app_component_that_is_not_ok_degrades_health(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.get("/health").json()["components"]["tips:feed"] == {"ok": True, "app": "tips"}
    monkeypatch.setattr(tests.example_app, "FEED_REACHABLE", False)
    health = api.get("/health").json()
    assert health["status"] == "degraded"  # not "unhealthy": the database still answers
    assert health["components"]["tips:feed"] == {"ok": False, "app": "tips"}
    assert [k for k, c in health["components"].items() if not c["ok"]] == ["tips:feed"]


def test_an_app_health_probe_that_raises_is_a_component_not_a_500(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: TipsApp, platform: Platform) -> dict:
        raise TimeoutError("probe of postgresql://u:secret@host hung")

    monkeypatch.setattr(TipsApp, "health", broken)
    r = api.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "degraded"
    components = r.json()["components"]
    assert components["tips:health"] == {"ok": False, "error": "TimeoutError", "app": "tips"}
    assert "tips:feed" not in components and "secret" not in r.text


def test_metrics_count_routes_predictions_and_errors(api: TestClient, keys) -> None:
    api.post("/api/v1/churn/predict", json={"customer_id": "C00002"}, headers=keys["service"])
    api.post("/api/v1/churn/predict", json={"customer_id": "C00002"})
    text = api.get("/metrics").text
    assert (
        'foresight_http_requests_total{method="POST",route="/api/v1/churn/predict",status="200"}'
        in text
    )
    assert 'route="/api/v1/churn/predict",status="401"' in text
    assert "foresight_http_request_duration_seconds_bucket" in text
    assert 'foresight_predictions_total{fallback="none",model="churn"' in text
    assert "foresight_cache_lookups_total" in text


def test_openapi_lists_every_route(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/churn/predict",
        "/api/v1/churn/predict/batch",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/results",
        "/api/v1/admin/audit",
        "/api/v1/schedule",
        "/api/v1/forecast/top-products",
        "/api/v1/models",
        "/api/v1/models/{model_id}/info",
        "/api/v1/models/{model_id}/promote",
        "/api/v1/models/{model_id}/rollback",
        "/health",
        "/metrics",
    ):
        assert path in paths
