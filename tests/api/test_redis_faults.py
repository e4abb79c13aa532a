"""Redis is optional at run time: killed or frozen, the API answers from its local
limits and cache (no 5xx, no hang), the probes say so, and it recovers by itself.

Each test starts its own redis-server on a free port; the shared one on 6379 is never
touched."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import make_keys, make_settings
from tests.servers import RedisServer


@pytest.fixture
def server() -> Iterator[RedisServer]:
    found = RedisServer()
    found.start()
    yield found
    found.stop()


@pytest.fixture
def api(server: RedisServer, tmp_path: Path) -> Iterator[tuple[TestClient, dict, Platform]]:
    p = Platform.create(make_settings(tmp_path, redis_url=server.url, rate_limit="30/minute"))
    p.limiter.retry_after = 0.5  # type: ignore[attr-defined]  # quick recovery for the test
    p.cache.l2_retry_after = 0.5
    with TestClient(create_app(p)) as client:
        yield client, make_keys(p), p
    p.close()


def _burst(client: TestClient, headers: dict, n: int) -> tuple[list[int], float]:
    started = time.perf_counter()
    codes = [client.get("/api/v1/models", headers=headers).status_code for _ in range(n)]
    return codes, time.perf_counter() - started


def test_a_killed_redis_costs_no_errors_and_limits_hold_locally(api, server) -> None:
    client, keys, _ = api
    assert _burst(client, keys["analyst"], 3)[0] == [200] * 3
    assert redis.Redis.from_url(server.url).keys("*ratelimit*")  # counted in Redis
    server.signal(signal.SIGKILL)
    server.proc.wait(timeout=5)  # type: ignore[union-attr]
    codes, seconds = _burst(client, keys["analyst"], 10)
    assert codes == [200] * 10 and seconds < 3  # every authenticated call used to be a 500
    health = client.get("/health").json()
    assert health["status"] == "degraded" and health["components"]["redis"]["ok"] is False
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["redis"] is False
    # The limit still holds, counted in this process while Redis is away.
    codes, _ = _burst(client, keys["service"], 31)
    assert codes.count(429) >= 1 and 500 not in codes


def test_a_frozen_redis_costs_one_short_timeout_and_is_used_again_after(api, server) -> None:
    client, keys, _ = api
    assert _burst(client, keys["analyst"], 2)[0] == [200, 200]
    server.signal(signal.SIGSTOP)
    try:
        codes, seconds = _burst(client, keys["analyst"], 10)
        assert codes == [200] * 10 and seconds < 3  # requests used to hang until SIGCONT
        started = time.perf_counter()
        assert client.get("/ready").status_code == 200
        assert time.perf_counter() - started < 1.5
    finally:
        server.signal(signal.SIGCONT)
    time.sleep(0.6)  # the breaker's pause
    redis.Redis.from_url(server.url).flushall()
    assert _burst(client, keys["analyst"], 2)[0] == [200, 200]
    assert redis.Redis.from_url(server.url).keys("*ratelimit*")  # back on Redis by itself
    assert client.get("/health").json()["components"]["redis"]["ok"] is True
