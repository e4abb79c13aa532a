"""Two-level cache: in-process TTL (L1) and Redis (L2) when configured.

Values are JSON. Keys carry the model version (e.g. ``churn:pred:v3:C00001``), so a
promotion makes old entries unreachable without a purge.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any, Protocol

from cachetools import TLRUCache


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl: float) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...


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
        count = 0
        for key in self.client.scan_iter(match=self.prefix + prefix + "*", count=500):
            count += int(self.client.delete(key))
        return count


class TieredCache:
    """L1 in front of an optional L2; an L2 hit refills L1 for at most ``l1_ttl`` seconds."""

    def __init__(
        self,
        l1: MemoryCache,
        l2: Cache | None = None,
        *,
        l1_ttl: float = 5.0,
        on_lookup: Any = None,
    ) -> None:
        self.l1, self.l2, self.l1_ttl = l1, l2, l1_ttl
        # on_lookup(namespace, level): 'l1', 'l2' or 'miss' — feeds the hit-rate metric.
        self.on_lookup = on_lookup or (lambda ns, level: None)

    def get(self, key: str) -> Any | None:
        ns = key.split(":", 1)[0]
        value = self.l1.get(key)
        if value is not None:
            self.on_lookup(ns, "l1")
            return value
        if self.l2 is not None:
            try:
                value = self.l2.get(key)
            except Exception:  # a Redis outage degrades to L1-only, it does not fail requests
                value = None
            if value is not None:
                self.l1.set(key, value, self.l1_ttl)
                self.on_lookup(ns, "l2")
                return value
        self.on_lookup(ns, "miss")
        return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.l1.set(key, value, min(ttl, self.l1_ttl) if self.l2 is not None else ttl)
        if self.l2 is not None:
            with contextlib.suppress(Exception):
                self.l2.set(key, value, ttl)

    def delete_prefix(self, prefix: str) -> int:
        count = self.l1.delete_prefix(prefix)
        if self.l2 is not None:
            count += self.l2.delete_prefix(prefix)
        return count
