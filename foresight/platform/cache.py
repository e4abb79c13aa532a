"""Two-level cache: in-process TTL (L1) and an optional L2 chosen by a type string.

Values are JSON. Each app sees only its own namespace (:class:`AppCache`), so clearing
one app's entries can never wipe another's. Keys carry the model version where it
matters (e.g. ``shop:forecast:all:week:v3``), so a promotion makes old entries
unreachable without a purge.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog
from cachetools import TLRUCache

from foresight.platform.backends import backend

log = structlog.get_logger(__name__)

DELETE_BATCH = 500  # keys per Redis DEL command
MAX_MISSED_KEYS = 10_000  # missed key invalidations remembered one by one (see TieredCache)


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl: float) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def delete_many(self, keys: Iterable[str]) -> int: ...


class MemoryCache:
    """Thread-safe in-process cache with a TTL per entry."""

    def __init__(self, maxsize: int = 50_000) -> None:
        self._data: TLRUCache[str, tuple[float, Any]] = TLRUCache(
            maxsize=maxsize, ttu=lambda _k, v, now: now + v[0], timer=time.monotonic
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
        return None if hit is None else hit[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (ttl, value)

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            keys = [k for k in self._data if k.startswith(prefix)]
            for k in keys:
                self._data.pop(k, None)
        return len(keys)

    def delete_many(self, keys: Iterable[str]) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)


class RedisCache:
    """Redis-backed cache; every key is namespaced by ``prefix``."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def get(self, key: str) -> Any | None:
        raw = self.client.get(self.prefix + key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.client.set(self.prefix + key, json.dumps(value, default=str), px=int(ttl * 1000))

    def delete_prefix(self, prefix: str) -> int:
        count, batch = 0, []
        for key in self.client.scan_iter(match=self.prefix + prefix + "*", count=DELETE_BATCH):
            batch.append(key)
            if len(batch) >= DELETE_BATCH:
                count += int(self.client.delete(*batch))
                batch = []
        return count + (int(self.client.delete(*batch)) if batch else 0)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` in one round trip (a pipeline of DELs of ``DELETE_BATCH`` keys)."""
        names = [self.prefix + k for k in keys]
        if not names:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(names), DELETE_BATCH):
            pipe.delete(*names[start : start + DELETE_BATCH])
        return sum(int(n) for n in pipe.execute())


class TieredCache:
    """L1 in front of an optional L2; an L2 hit refills L1 for at most ``l1_ttl`` seconds.

    An L2 failure opens a breaker for ``l2_retry_after`` seconds: while Redis is down,
    requests use L1 alone instead of each waiting for a connection timeout.

    Invalidations degrade the same way (L1 is cleared, the caller's transaction stands),
    and the ones L2 missed are remembered and replayed once it answers again. Other
    replicas hold an entry in their L1 for at most ``l1_ttl`` seconds; if this process
    ends before the replay, a stale L2 entry lives until its own TTL (every ``set`` has
    one), never forever.
    """

    def __init__(
        self,
        l1: MemoryCache,
        l2: Cache | None = None,
        *,
        l1_ttl: float = 5.0,
        l2_retry_after: float = 5.0,
        on_lookup: Any = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.l1, self.l2, self.l1_ttl = l1, l2, l1_ttl
        self.l2_retry_after = l2_retry_after
        self.clock = clock
        self._l2_down_until = 0.0
        self._missed_prefixes: set[str] = set()
        self._missed_keys: set[str] = set()
        self._missed_lock = threading.Lock()
        # on_lookup(namespace, level): 'l1', 'l2' or 'miss' — feeds the hit-rate metric.
        self.on_lookup = on_lookup or (lambda ns, level: None)

    def _l2(self) -> Cache | None:
        """L2 unless it failed within the last ``l2_retry_after`` seconds."""
        if self.l2 is None or self.clock() < self._l2_down_until:
            return None
        if (self._missed_prefixes or self._missed_keys) and not self._replay(self.l2):
            return None
        return self.l2

    def _l2_failed(self, exc: Exception) -> None:
        # Logged once per breaker period: calls in between do not reach L2.
        log.warning("cache_l2_unavailable", error_type=type(exc).__name__, error=str(exc))
        self._l2_down_until = self.clock() + self.l2_retry_after

    def _missed(self, *, prefixes: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        with self._missed_lock:
            self._missed_prefixes.update(prefixes)
            self._missed_keys.update(keys)
            if len(self._missed_keys) > MAX_MISSED_KEYS:
                # Too many to remember one by one: their namespaces are cleared instead.
                self._missed_prefixes.update(k.split(":", 1)[0] + ":" for k in self._missed_keys)
                self._missed_keys.clear()

    def _replay(self, l2: Cache) -> bool:
        """Apply the invalidations L2 missed while it was away; False if it failed again."""
        with self._missed_lock:
            prefixes, keys = self._missed_prefixes, self._missed_keys
            self._missed_prefixes, self._missed_keys = set(), set()
        try:
            for prefix in prefixes:
                l2.delete_prefix(prefix)
            l2.delete_many(keys)
        except Exception as exc:
            self._missed(prefixes=prefixes, keys=keys)
            self._l2_failed(exc)
            return False
        return True

    def get(self, key: str) -> Any | None:
        ns = key.split(":", 1)[0]
        value = self.l1.get(key)
        if value is not None:
            self.on_lookup(ns, "l1")
            return value
        l2 = self._l2()
        if l2 is not None:
            try:
                value = l2.get(key)
            except Exception as exc:  # a Redis outage degrades to L1-only, not a failure
                self._l2_failed(exc)
                value = None
            if value is not None:
                self.l1.set(key, value, self.l1_ttl)
                self.on_lookup(ns, "l2")
                return value
        self.on_lookup(ns, "miss")
        return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.l1.set(key, value, min(ttl, self.l1_ttl) if self.l2 is not None else ttl)
        l2 = self._l2()
        if l2 is not None:
            try:
                l2.set(key, value, ttl)
            except Exception as exc:
                self._l2_failed(exc)

    def delete_prefix(self, prefix: str) -> int:
        """Invalidate every key starting with ``prefix``; returns how many were found.
        If L2 is away it is invalidated when it is back (see the class notes)."""
        count = self.l1.delete_prefix(prefix)
        l2 = self._l2()
        if l2 is not None:
            try:
                return count + l2.delete_prefix(prefix)
            except Exception as exc:
                self._l2_failed(exc)
        if self.l2 is not None:
            self._missed(prefixes=[prefix])
        return count

    def delete_many(self, keys: Iterable[str]) -> int:
        """Invalidate ``keys`` (one L2 round trip); returns how many were found."""
        keys = list(keys)
        count = self.l1.delete_many(keys)
        l2 = self._l2()
        if l2 is not None:
            try:
                return count + l2.delete_many(keys)
            except Exception as exc:
                self._l2_failed(exc)
        if self.l2 is not None:
            self._missed(keys=keys)
        return count


class AppCache:
    """One app's view of the cache: every key is prefixed with ``<app>:``.

    An app reads, writes and clears only its own keys; ``clear(prefix)`` drops the
    app's keys that start with ``prefix`` (all of them by default).
    """

    def __init__(self, cache: TieredCache, namespace: str) -> None:
        if not namespace or ":" in namespace:
            raise ValueError("a cache namespace is a non-empty name without ':'")
        self._cache = cache
        self.namespace = namespace
        self._prefix = namespace + ":"

    def get(self, key: str) -> Any | None:
        return self._cache.get(self._prefix + key)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self._cache.set(self._prefix + key, value, ttl)

    def clear(self, prefix: str = "") -> int:
        return self._cache.delete_prefix(self._prefix + prefix)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Drop the app's ``keys`` (one round trip to Redis for all of them)."""
        return self._cache.delete_many(self._prefix + k for k in keys)


def _redis_l2(client: Any, prefix: str) -> Cache | None:
    if client is None:
        raise ValueError("the redis cache backend needs FORESIGHT_REDIS_URL")
    return RedisCache(client, prefix + "cache:")


# L2 backends by type string (``FORESIGHT_CACHE_BACKEND``); "memory" means L1 alone.
CACHE_BACKENDS: dict[str, Callable[[Any, str], Cache | None]] = {
    "memory": lambda client, prefix: None,
    "redis": _redis_l2,
}


def cache_from_kind(kind: str, *, client: Any, prefix: str, on_lookup: Any = None) -> TieredCache:
    """A tiered cache whose L2 is the backend named ``kind``."""
    factory = backend(CACHE_BACKENDS, kind, "cache")
    return TieredCache(MemoryCache(), factory(client, prefix), on_lookup=on_lookup)
