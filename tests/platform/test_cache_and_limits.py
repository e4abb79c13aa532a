"""Cache and rate limits, in-process and on the local Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from foresight.platform.cache import MemoryCache, RedisCache, TieredCache
from foresight.platform.ratelimit import rate_limiter_from_kind
from tests.conftest import REDIS_URL


def test_memory_cache_ttl_and_prefix_delete() -> None:
    cache = MemoryCache()
    cache.set("a:1", {"x": 1}, ttl=0.05)
    cache.set("a:2", [1], ttl=10)
    cache.set("b:1", "keep", ttl=10)
    assert cache.get("a:1") == {"x": 1}
    time.sleep(0.08)
    assert cache.get("a:1") is None
    assert cache.delete_prefix("a:") == 1
    assert cache.get("a:2") is None and cache.get("b:1") == "keep"


def test_redis_cache_roundtrip_ttl_and_prefix(redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    cache = RedisCache(client, redis_prefix)
    cache.set("churn:pred:v1:C1", {"p": 0.3}, ttl=0.1)
    cache.set("churn:pred:v1:C2", {"p": 0.4}, ttl=10)
    cache.set("sales:x", 1, ttl=10)
    assert cache.get("churn:pred:v1:C2") == {"p": 0.4}
    time.sleep(0.15)
    assert cache.get("churn:pred:v1:C1") is None
    assert cache.delete_prefix("churn:") == 1
    assert cache.get("churn:pred:v1:C2") is None and cache.get("sales:x") == 1


def test_tiered_cache_fills_l1_from_redis_and_counts_hits(redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    seen: list[tuple[str, str]] = []
    writer = TieredCache(MemoryCache(), RedisCache(client, redis_prefix))
    reader = TieredCache(
        MemoryCache(),
        RedisCache(client, redis_prefix),
        on_lookup=lambda ns, level: seen.append((ns, level)),
    )
    writer.set("churn:k", "v", ttl=60)  # another replica wrote it
    assert reader.get("churn:k") == "v"  # L2 hit
    assert reader.get("churn:k") == "v"  # now L1
    assert reader.get("churn:none") is None
    assert seen == [("churn", "l2"), ("churn", "l1"), ("churn", "miss")]
    writer.delete_prefix("churn:")
    assert TieredCache(MemoryCache(), RedisCache(client, redis_prefix)).get("churn:k") is None


def test_tiered_cache_survives_redis_outage() -> None:
    now = [0.0]
    calls = []

    class DownRedis:
        def get(self, key):
            calls.append("get")
            raise ConnectionError("redis is down")

        def set(self, key, value, ttl):
            calls.append("set")
            raise ConnectionError("redis is down")

    cache = TieredCache(MemoryCache(), DownRedis(), l2_retry_after=5.0, clock=lambda: now[0])
    cache.set("a:1", 5, ttl=60)  # L2 fails: the breaker opens, L1 still serves
    assert cache.get("a:1") == 5
    assert cache.get("a:2") is None and calls == ["set"]  # no L2 call while open
    now[0] = 6.0
    assert cache.get("a:2") is None and calls == ["set", "get"]  # one retry after the pause


def test_tiered_cache_with_an_unreachable_redis_server() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = TieredCache(MemoryCache(), RedisCache(client, "x:"))
    started = time.monotonic()
    cache.set("a:1", 5, ttl=60)
    assert cache.get("a:1") == 5
    assert [cache.get(f"b:{i}") for i in range(50)] == [None] * 50
    assert time.monotonic() - started < 5  # the breaker keeps requests off the dead server


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_delete_many_drops_exactly_the_given_keys(backend: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    cache = MemoryCache() if backend == "memory" else RedisCache(client, redis_prefix)
    for i in range(1200):  # more than one DEL command's worth
        cache.set(f"t:{i}", i, ttl=60)
    cache.set("keep", 1, ttl=60)
    assert cache.delete_many(f"t:{i}" for i in range(1200)) == 1200
    assert cache.delete_many(["t:1", "absent"]) == 0 and cache.delete_many([]) == 0
    assert cache.get("t:5") is None and cache.get("keep") == 1


class FlakyL2(MemoryCache):
    """An L2 that can be taken away and brought back."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("redis is down")

    def get(self, key):
        self._check()
        return super().get(key)

    def set(self, key, value, ttl):
        self._check()
        super().set(key, value, ttl)

    def delete_prefix(self, prefix):
        self._check()
        return super().delete_prefix(prefix)

    def delete_many(self, keys):
        self._check()
        return super().delete_many(keys)


def test_invalidation_while_l2_is_away_clears_l1_and_reaches_l2_when_it_is_back() -> None:
    now = [0.0]
    l2 = FlakyL2()
    cache = TieredCache(MemoryCache(), l2, l2_retry_after=5.0, clock=lambda: now[0])
    for key in ("a:1", "a:2", "b:1", "b:2"):
        cache.set(key, key, ttl=3600)
    l2.down = True
    # No exception: the caller's transaction already committed (this used to be a 500).
    assert cache.delete_prefix("a:") == 2  # found in L1
    assert cache.delete_many(["b:1"]) == 1
    assert cache.get("a:1") is None and cache.get("b:1") is None and cache.get("b:2") == "b:2"
    l2.down = False
    assert l2.get("a:1") == "a:1"  # other replicas would still read these from L2...
    now[0] = 6.0  # ...until the breaker lets this process reach L2 again
    assert cache.get("c:1") is None  # any L2 call replays the missed invalidations first
    assert l2.get("a:1") is None and l2.get("a:2") is None and l2.get("b:1") is None
    assert l2.get("b:2") == "b:2"


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_rate_limit_blocks_with_retry_after(backend: str, redis_prefix: str) -> None:
    kind = "memory" if backend == "memory" else "redis"
    limiter = rate_limiter_from_kind(
        kind, "3/minute", redis_url=REDIS_URL, prefix=redis_prefix + "rl"
    )
    assert [limiter.hit("key:1")[0] for _ in range(3)] == [True, True, True]
    allowed, retry_after = limiter.hit("key:1")
    assert not allowed and 1 <= retry_after <= 60
    assert limiter.hit("key:2")[0]  # limits are per key


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_costed_hit_counts_every_unit(backend: str, redis_prefix: str) -> None:
    # A batch of 1,000 events counts 1,000 against an events-per-minute budget.
    limiter = rate_limiter_from_kind(
        backend, "5000/minute", redis_url=REDIS_URL, prefix=redis_prefix + "cost"
    )
    assert [limiter.hit("client", cost=1000)[0] for _ in range(5)] == [True] * 5
    allowed, retry_after = limiter.hit("client", cost=1000)
    assert not allowed and 1 <= retry_after <= 60
    assert limiter.hit("other", cost=5000)[0] and not limiter.hit("other", cost=1)[0]


def test_local_sliding_window_weights_the_previous_window() -> None:
    from foresight.platform.ratelimit import LocalSlidingWindow

    now = [1000.0]  # window [960, 1020) for a 60 s window
    window = LocalSlidingWindow(10, 60, clock=lambda: now[0])
    assert all(window.hit("k")[0] for _ in range(10))
    allowed, retry = window.hit("k")
    assert not allowed and retry == 20  # the rest of this window
    now[0] = 1020.0 + 30  # halfway into the next window: previous counts 50 %
    assert [window.hit("k")[0] for _ in range(6)] == [True] * 5 + [False]
    now[0] = 1020.0 + 200  # long idle: everything forgotten
    assert window.hit("k")[0]


def test_a_named_limiter_counts_apart_from_the_request_limit(tmp_path: Path) -> None:
    from foresight.platform.runtime import Platform
    from tests.conftest import make_settings

    platform = Platform.create(make_settings(tmp_path, rate_limit="2/minute"))
    try:
        events = platform.limiter_for("events", "3000/minute")
        assert platform.limiter_for("events", "3000/minute") is events
        assert events.hit("key:1", cost=3000)[0] and not events.hit("key:1")[0]
        assert platform.limiter.hit("key:1")[0]  # the request limit is untouched
    finally:
        platform.close()
