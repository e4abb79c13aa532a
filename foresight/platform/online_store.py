"""The online feature store: each entity's newest feature row, for ``ttl`` after it is
written (the seed's ``HMSET features:{region} … EX 120``).

``memory`` keeps rows in the process (the embedded default: one API process consumes the
stream itself); ``redis`` keeps one hash per entity so every API worker reads what the
consumers wrote. A write never replaces a newer row with an older one (a replayed batch
after a crash writes old rows again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from foresight.platform.backends import backend
from foresight.platform.errors import InvalidInput
from foresight.platform.feature_store import FeatureRow, FeatureView, Value, check_row


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """What serving reads: the values, the row's event time and how old it is."""

    values: dict[str, Value]
    event_time: datetime
    age_seconds: float


class OnlineStore(Protocol):
    """The backend interface (``tests/platform/test_feature_store.py`` is its suite)."""

    def write_many(self, view: FeatureView, rows: Sequence[FeatureRow]) -> None: ...

    def read(self, view: FeatureView, entity: str) -> OnlineRow | None: ...

    def read_many(self, view: FeatureView, entities: Sequence[str]) -> list[OnlineRow | None]: ...


def _newest(rows: Sequence[FeatureRow]) -> dict[str, FeatureRow]:
    out: dict[str, FeatureRow] = {}
    for r in rows:
        if r.entity not in out or r.event_time >= out[r.entity].event_time:
            out[r.entity] = r
    return out


class MemoryOnlineStore:
    """Rows in a dict, each with its expiry (``clock`` is a monotonic-like seconds clock)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._rows: dict[tuple[str, str], tuple[float, datetime, dict[str, Value]]] = {}
        self._lock = threading.Lock()

    def write_many(self, view: FeatureView, rows: Sequence[FeatureRow]) -> None:
        checked = {e: (r, check_row(view, r)) for e, r in _newest(rows).items()}
        expires = self.clock() + view.ttl.total_seconds()
        with self._lock:
            for entity, (row, values) in checked.items():
                key = (view.name, entity)
                old = self._rows.get(key)
                if old is None or old[0] < self.clock() or old[1] <= row.event_time:
                    self._rows[key] = (expires, row.event_time, values)

    def read(self, view: FeatureView, entity: str) -> OnlineRow | None:
        return self.read_many(view, [entity])[0]

    def read_many(self, view: FeatureView, entities: Sequence[str]) -> list[OnlineRow | None]:
        now, wall = self.clock(), datetime.now(UTC)
        out: list[OnlineRow | None] = []
        with self._lock:
            for entity in entities:
                found = self._rows.get((view.name, entity))
                if found is None or found[0] < now:
                    out.append(None)
                    continue
                age = (wall - found[1]).total_seconds()
                out.append(OnlineRow(dict(found[2]), found[1], age))
        return out


# Replace the hash only when the row is at least as new (event time in microseconds).
_WRITE = """
local old = redis.call('HGET', KEYS[1], 't')
if old and tonumber(old) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisOnlineStore:
    """One hash per (view, entity): ``t`` (event time, µs) and ``v`` (the values, JSON),
    expiring ``ttl`` after the write. Reads are one pipelined round trip."""

    def __init__(self, client: Any, *, prefix: str = "foresight:") -> None:
        self.client, self.prefix = client, prefix
        self._script = client.register_script(_WRITE)

    def _key(self, view: FeatureView, entity: str) -> str:
        return f"{self.prefix}features:{view.name}:{entity}"

    def write_many(self, view: FeatureView, rows: Sequence[FeatureRow]) -> None:
        checked = {e: (r, check_row(view, r)) for e, r in _newest(rows).items()}
        ttl_ms = int(view.ttl.total_seconds() * 1000)
        pipe = self.client.pipeline(transaction=False)
        for entity, (row, values) in checked.items():
            micros = int(row.event_time.timestamp() * 1_000_000)
            args = [micros, orjson.dumps(values), ttl_ms]
            self._script(keys=[self._key(view, entity)], args=args, client=pipe)
        pipe.execute()

    def read(self, view: FeatureView, entity: str) -> OnlineRow | None:
        return self.read_many(view, [entity])[0]

    def read_many(self, view: FeatureView, entities: Sequence[str]) -> list[OnlineRow | None]:
        pipe = self.client.pipeline(transaction=False)
        for entity in entities:
            pipe.hmget(self._key(view, entity), "t", "v")
        wall = datetime.now(UTC)
        out: list[OnlineRow | None] = []
        for t, v in pipe.execute():
            if t is None or v is None:
                out.append(None)
                continue
            event_time = datetime.fromtimestamp(int(t) / 1_000_000, UTC)
            out.append(OnlineRow(orjson.loads(v), event_time, (wall - event_time).total_seconds()))
        return out


ONLINE_STORE_BACKENDS: dict[str, Callable[..., OnlineStore]] = {
    "memory": MemoryOnlineStore,
    "redis": RedisOnlineStore,
}


def online_store_from_kind(kind: str, **kw: Any) -> OnlineStore:
    """Build the online store named ``kind`` (``memory``, ``redis`` or ``module:Class``)."""
    try:
        factory = backend(ONLINE_STORE_BACKENDS, kind, "online store")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return factory(**kw)
