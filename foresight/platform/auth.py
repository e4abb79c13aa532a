"""API keys: generated once, stored as SHA-256 hashes, each with one role."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import structlog
from cachetools import LRUCache, TTLCache
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import ApiKeyRow
from foresight.platform.errors import InvalidInput, NotFound

log = structlog.get_logger(__name__)

_MISSING = object()  # not in the cache (a cached None means "unknown or revoked")

ROLES = ("admin", "analyst", "service")
# What each role may do; a route asks for one permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"predict", "read", "write", "admin"}),
    "analyst": frozenset({"predict", "read", "write"}),
    "service": frozenset({"predict"}),
}


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    role: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


def _hash(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Keys in the database, verified through a short in-process cache.

    A revocation made anywhere (another replica, ``foresight keys revoke``) reaches this
    process within ``watch_seconds``: :meth:`watch` (started by the API server's lifespan)
    polls one aggregate of the revocations in a background thread and drops the cache
    when it changes, so the request path never waits on that query.

    The caches are shared by request threads and the watcher, so they are used under a
    lock; a generation number, bumped by every drop, stops a lookup that began before a
    revocation from caching its (now stale) answer after the drop.
    """

    def __init__(
        self, db: Database, cache_seconds: float = 30.0, watch_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.watch_seconds = watch_seconds
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=cache_seconds)
        # Keys verified before, kept past the TTL for one use only: while the database is
        # away, a key this process already knew keeps working (LRU-bounded).
        self._known: LRUCache[str, Principal] = LRUCache(maxsize=10_000)
        self._revocations: tuple[object, ...] | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def create(self, *, name: str, role: str) -> tuple[str, Principal]:
        """Create a key; the plain key is returned once and never stored."""
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        # The prefix (32 bits, the key's public handle) is unique: with tens of thousands
        # of keys two can be drawn alike, so a collision draws again.
        for attempt in range(5):
            prefix = secrets.token_hex(4)
            plain = f"fs_{prefix}_{secrets.token_urlsafe(32)}"
            try:
                with self.db.session() as s:
                    row = ApiKeyRow(prefix=prefix, key_hash=_hash(plain), name=name, role=role)
                    s.add(row)
                    s.flush()
                    return plain, Principal(row.id, name, role)
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def verify(self, plain: str) -> Principal | None:
        """The key's principal, or None if unknown or revoked (cached briefly)."""
        with self._lock:
            generation = self._generation
            try:  # one read: ``in`` then ``[]`` fails when the entry expires in between
                cached: object = self._cache[plain]
            except KeyError:
                cached = _MISSING
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        try:
            principal = self._lookup(plain)
        except (OperationalError, InterfaceError):
            with self._lock:
                known = self._known.get(plain)
            if known is None:
                raise  # unknown key and no database: the API answers 503
            return known
        with self._lock:
            if generation != self._generation:
                return principal  # a revocation came meanwhile: do not cache what we read
            self._cache[plain] = principal
            if principal is None:
                self._known.pop(plain, None)
            else:
                self._known[plain] = principal
        return principal

    def _lookup(self, plain: str) -> Principal | None:
        parts = plain.split("_", 2)
        if len(parts) != 3 or parts[0] != "fs":
            return None
        with self.db.session() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == parts[1]))
            if row is None or row.revoked_at is not None:
                return None
            # Constant-time compare: response timing must not reveal how much matched.
            if not hmac.compare_digest(row.key_hash, _hash(plain)):
                return None
            return Principal(row.id, row.name, row.role)

    def revocations(self) -> tuple[object, ...]:
        """How many keys are revoked and the latest revocation time (one cheap query)."""
        with self.db.session() as s:
            count, latest = s.execute(
                select(func.count(ApiKeyRow.id), func.max(ApiKeyRow.revoked_at)).where(
                    ApiKeyRow.revoked_at.is_not(None)
                )
            ).one()
        return (count, latest)

    def refresh(self) -> bool:
        """Drop the cache if a key was revoked since the last call; returns whether it did."""
        seen = self.revocations()
        changed = self._revocations is not None and seen != self._revocations
        self._revocations = seen
        if changed:
            self._drop()
        return changed

    def _drop(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._known.clear()

    def watch(self) -> None:
        """Start the revocation watcher thread (idempotent; :meth:`close` stops it). The
        API server calls it as it starts; a CLI command that checks no keys does not."""
        with self._lock:
            if self._watcher is not None or self.watch_seconds <= 0:
                return
            self._watcher = threading.Thread(target=self._watch, name="key-watch", daemon=True)
        try:
            self.refresh()  # the baseline, before anything is cached
        except Exception as exc:
            log.debug("key_watch_failed", error=str(exc))
        self._watcher.start()

    def _watch(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception as exc:  # database away: keep the cache, try again later
                log.debug("key_watch_failed", error=str(exc))
            if self._stop.wait(self.watch_seconds):
                return

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)

    def revoke(self, key_id: int) -> None:
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFound(f"no API key with id {key_id}")
            row.revoked_at = utcnow()
        self._drop()

    def summaries(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "role": r.role,
                    "prefix": r.prefix,
                    "created_at": r.created_at.isoformat(),
                    "revoked": r.revoked_at is not None,
                }
                for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))
            ]
