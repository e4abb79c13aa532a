"""One contract suite per backend interface, run against every backend chosen by its type
string (the Feast pattern): cache, rate limit, artifact store. The event log's suite is
in test_events.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from foresight.platform.artifacts import artifact_store_from_kind
from foresight.platform.cache import AppCache, cache_from_kind
from foresight.platform.errors import ArtifactCorrupted
from foresight.platform.ratelimit import rate_limiter_from_kind
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest, redis_prefix: str):
    client = redis.Redis.from_url(REDIS_URL) if request.param == "redis" else None
    return lambda: cache_from_kind(request.param, client=client, prefix=redis_prefix)


class TestCacheContract:
    def test_get_set_ttl_and_prefix_clear(self, cache_kind) -> None:
        cache = cache_kind()
        cache.set("a:1", {"x": [1, 2]}, ttl=0.2)
        cache.set("a:2", "two", ttl=30)
        cache.set("b:1", 1.5, ttl=30)
        assert cache.get("a:1") == {"x": [1, 2]} and cache.get("nope") is None
        assert cache.delete_prefix("a:") >= 2
        assert cache.get("a:2") is None and cache.get("b:1") == 1.5

    def test_entries_expire(self, cache_kind) -> None:
        cache = cache_kind()
        cache.set("t:1", 1, ttl=0.1)
        time.sleep(0.25)
        fresh = cache_kind()  # a replica that never saw the L1 copy
        assert fresh.get("t:1") is None

    def test_an_app_sees_only_its_own_namespace(self, cache_kind) -> None:
        shared = cache_kind()
        sales, shop = AppCache(shared, "sales"), AppCache(shared, "shop")
        sales.set("forecast:all:week:v1", "sales answer", ttl=30)
        shop.set("forecast:all:week:v1", "shop answer", ttl=30)
        # Clearing one app's forecasts used to wipe every "forecast:*" key of every app.
        sales.clear("forecast:")
        assert sales.get("forecast:all:week:v1") is None
        assert shop.get("forecast:all:week:v1") == "shop answer"
        assert shared.get("shop:forecast:all:week:v1") == "shop answer"
        with pytest.raises(ValueError):
            AppCache(shared, "a:b")


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_rate_limit_contract(kind: str, redis_prefix: str) -> None:
    limiter = rate_limiter_from_kind(kind, "3/minute", redis_url=REDIS_URL, prefix=redis_prefix)
    assert [limiter.hit("k1")[0] for _ in range(3)] == [True] * 3
    allowed, retry = limiter.hit("k1")
    assert not allowed and 1 <= retry <= 60
    assert limiter.hit("k2") == (True, 0)
    limiter.reset()
    assert limiter.hit("k1") == (True, 0)


@pytest.mark.parametrize("kind", ["local"])
def test_artifact_store_contract(kind: str, tmp_path: Path) -> None:
    store = artifact_store_from_kind(kind, tmp_path)
    sha = store.save("m/v1/model.pkl", {"w": [1, 2, 3]})
    assert store.load("m/v1/model.pkl", sha) == {"w": [1, 2, 3]}
    with pytest.raises(ArtifactCorrupted, match="checksum"):
        store.load("m/v1/model.pkl", "0" * 64)
    with pytest.raises(ArtifactCorrupted, match="cannot be read"):
        store.load("m/v9/model.pkl", sha)


def test_unknown_backend_kinds_name_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of memory, redis"):
        cache_from_kind("memcached", client=None, prefix="x")
    with pytest.raises(ValueError, match="choose one of memory, redis"):
        rate_limiter_from_kind("etcd", "1/second")
    with pytest.raises(ValueError, match="choose one of local"):
        artifact_store_from_kind("s3", tmp_path)
    with pytest.raises(ValueError, match="needs FORESIGHT_REDIS_URL"):
        cache_from_kind("redis", client=None, prefix="x")


def test_a_backend_of_your_own_by_its_import_path(tmp_path: Path) -> None:
    store = artifact_store_from_kind("foresight.platform.artifacts:LocalArtifactStore", tmp_path)
    sha = store.save("x.pkl", [1])
    assert store.load("x.pkl", sha) == [1]
    with pytest.raises(ValueError, match=r"cannot load the cache backend 'nope\.mod:Cache'"):
        cache_from_kind("nope.mod:Cache", client=None, prefix="x")


def test_memory_cache_backend_ignores_a_configured_redis(tmp_path: Path) -> None:
    from foresight.platform.runtime import Platform
    from tests.conftest import make_settings

    p = Platform.create(make_settings(tmp_path, redis_url=REDIS_URL, cache_backend="memory"))
    assert p.cache.l2 is None  # the type string decides, not the mere presence of a URL
    p.close()
