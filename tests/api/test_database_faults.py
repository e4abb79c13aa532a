"""PostgreSQL away: the API answers 503 with Retry-After (never an opaque 500), keys it
already knew keep working, the probes tell the truth, and it recovers by itself.

The outage is real for this test's own scratch database: its connections are refused
(ALLOW_CONNECTIONS false) and the live ones terminated; the shared server is untouched."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import PG_ADMIN_URL, make_keys, make_settings


def _set_reachable(pg_url: str, reachable: bool) -> None:
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(reachable).lower()}'))
        if not reachable:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    admin.dispose()


def test_database_outage_answers_503_with_retry_after_and_recovers(
    tmp_path: Path, pg_url: str
) -> None:
    platform = Platform.create(make_settings(tmp_path, database_url=pg_url))
    keys = make_keys(platform)
    with TestClient(create_app(platform)) as client:
        for role in ("admin", "analyst"):
            assert client.get("/api/v1/models", headers=keys[role]).status_code == 200
        platform.keys._cache.clear()  # as if the 30 s key cache had run out
        _set_reachable(pg_url, False)
        try:
            read = client.get("/api/v1/models", headers=keys["analyst"])
            assert read.status_code == 503, read.text  # used to be a bare 500
            assert read.headers["Retry-After"] == "5" and "retry" in read.json()["detail"]
            write = client.post(
                "/api/v1/admin/keys", json={"name": "x", "role": "service"}, headers=keys["admin"]
            )
            assert write.status_code == 503 and write.headers["Retry-After"] == "5"
            unknown = client.get("/api/v1/models", headers={"X-API-Key": "fs_abcd1234_nope"})
            assert unknown.status_code == 503
            assert client.get("/ready").status_code == 503
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "unhealthy"
        finally:
            _set_reachable(pg_url, True)
        assert client.get("/api/v1/models", headers=keys["analyst"]).status_code == 200
        assert client.get("/ready").status_code == 200
    platform.close()
