"""Answers cached until the data they were computed from changes.

An app whose answers depend on stored data (an import, a sync) keeps a *data version* —
an id its store moves whenever the data changes — and stores it beside every cached
answer. A replica re-reads the version at most once a second (:class:`DataVersion`), so
new data reaches every replica's cache within a second without a broadcast, and a hit
costs no database query in between. :func:`cached_answer` is the read-through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import OperationalError

from foresight.platform.cache import AppCache

T = TypeVar("T")
TRUST_SECONDS = 1.0  # how long a replica trusts its view of the latest version
VERSION_FIELD = "_data_version"


class DataVersion(Generic[T]):
    """The latest data version, read through ``read`` at most once per ``ttl`` seconds.

    While the database is away, the last version read is kept, so cached answers stay
    served; before any successful read the error propagates."""

    def __init__(self, read: Callable[[], T], ttl: float = TRUST_SECONDS) -> None:
        self._read = read
        self.ttl = ttl
        self._seen: tuple[float, T] | None = None
        self._lock = threading.Lock()
        self._generation = 0  # moved by forget(): a read begun before it is not kept

    def get(self) -> T:
        """The latest version (at most ``ttl`` seconds old)."""
        now = time.monotonic()
        seen = self._seen
        if seen is not None and now - seen[0] < self.ttl:
            return seen[1]
        generation = self._generation
        try:
            value = self._read()
        except OperationalError:
            if seen is None:
                raise
            return seen[1]
        with self._lock:
            if generation == self._generation:
                self._seen = (now, value)
        return value

    def forget(self) -> None:
        """Re-read on the next :meth:`get` (this process just changed the data)."""
        with self._lock:
            self._generation += 1
            self._seen = None


def cached_answer(
    cache: AppCache,
    key: str,
    ttl: float,
    version: int | str,
    compute: Callable[[], dict[str, Any]],
    *,
    enabled: bool = True,
) -> dict[str, Any]:
    """The answer cached under ``key`` if it was computed from data ``version`` (a scalar:
    it goes through JSON in Redis and must compare equal coming back), else
    ``compute()`` (stored for ``ttl`` seconds). ``cached`` in the returned body says which;
    the body is a copy the caller may change."""
    if enabled:
        hit = cache.get(key)
        if hit is not None and hit.get(VERSION_FIELD) == version:
            body = dict(hit)
            del body[VERSION_FIELD]
            body["cached"] = True
            return body
    body = compute()
    if enabled:
        cache.set(key, {**body, VERSION_FIELD: version}, ttl)
    return {**body, "cached": False}
