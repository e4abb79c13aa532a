"""PostgreSQL away: the API answers 503 with Retry-After (never an opaque 500), keys it
already knew keep working, the probes tell the truth, and it recovers by itself.

The outage is real: the test starts its own PostgreSQL server on a free port and stops
it (``pg_ctl stop -m immediate``, a crash); the shared server is untouched."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import make_keys, make_settings
from tests.servers import PostgresServer


def test_database_outage_answers_503_with_retry_after_and_recovers(
    tmp_path: Path, own_pg: PostgresServer
) -> None:
    url = own_pg.database("foresight")
    platform = Platform.create(make_settings(tmp_path, database_url=url))
    keys = make_keys(platform)
    with TestClient(create_app(platform)) as client:
        for role in ("admin", "analyst"):
            assert client.get("/api/v1/models", headers=keys[role]).status_code == 200
        platform.keys._cache.clear()  # as if the 30 s key cache had run out
        own_pg.stop("immediate")
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
            own_pg.start()
        assert client.get("/api/v1/models", headers=keys["analyst"]).status_code == 200
        assert client.get("/ready").status_code == 200
    platform.close()
