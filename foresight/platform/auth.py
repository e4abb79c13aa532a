"""API keys: generated once, stored as SHA-256 hashes, each with one role."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache, TTLCache
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import ApiKeyRow
from foresight.platform.errors import InvalidInput, NotFound

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
    def __init__(self, db: Database, cache_seconds: float = 30.0) -> None:
        self.db = db
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=cache_seconds)
        # Keys verified before, kept past the TTL for one use only: while the database is
        # away, a key this process already knew keeps working (LRU-bounded).
        self._known: LRUCache[str, Principal] = LRUCache(maxsize=10_000)

    def create(self, *, name: str, role: str) -> tuple[str, Principal]:
        """Create a key; the plain key is returned once and never stored."""
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        plain = f"fs_{prefix}_{secret}"
        with self.db.session() as s:
            row = ApiKeyRow(prefix=prefix, key_hash=_hash(plain), name=name, role=role)
            s.add(row)
            s.flush()
            return plain, Principal(row.id, name, role)

    def verify(self, plain: str) -> Principal | None:
        """The key's principal, or None if unknown or revoked (cached briefly)."""
        if plain in self._cache:
            return self._cache[plain]
        try:
            principal = self._lookup(plain)
        except (OperationalError, InterfaceError):
            known = self._known.get(plain)
            if known is None:
                raise  # unknown key and no database: the API answers 503
            return known
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

    def revoke(self, key_id: int) -> None:
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFound(f"no API key with id {key_id}")
            row.revoked_at = utcnow()
        self._cache.clear()
        self._known.clear()

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
