"""Streams on Redis Streams: one Redis stream per partition, consumer groups, re-claim.

An append groups its records by partition and runs one Lua script per partition, all in
one pipeline: the script marks each idempotency key (``SET NX EX``) and adds the new
records as **one packed entry** (``XADD … n <count> e <JSON array>``). A script runs
atomically, so a retried append stores nothing twice, and a request of 1,000 records
costs at most one write per partition instead of 1,000.

Positions are entry ids ``<ms>-<seq>`` as ``(ms, seq)``. A consumer reads the entries
after its partition's checkpoint (``XREAD`` from that id), exactly as on the database:
ownership and re-claim are the SQL leases (``stream_leases``), acknowledgement is the
checkpoint commit. Delivery through a consumer group (``XREADGROUP >``) would lose
records: a stalled owner that wakes up and reads ``>`` on a partition it no longer owns
takes entries the new owner is never given, and the new owner's checkpoint then moves
past them. So the consumer group here is bookkeeping only: ``ack`` moves the group's
last-delivered id to the checkpoint (``XGROUP SETID``), so ``XINFO GROUPS`` shows where
each group is (its lag is in ``/health``).

Durability is Redis's: an appended record survives a consumer's death, but survives a
Redis restart only with ``appendonly yes`` and ``appendfsync always`` (``durable``
reports it). Keys outside ``KEYS`` (the idempotency marks) keep this backend to a single
Redis, not a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from foresight.platform.db.base import utcnow
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import MAX_KEY, MAX_STREAM, MAX_TYPE, check_text
from foresight.platform.streams import (
    START,
    Entry,
    Position,
    Record,
    StoredRecord,
    check_partitions,
    check_positions,
    check_read,
    partition_of,
)

DEDUPE_SECONDS = 8 * 86_400  # an idempotency key is remembered this long
LAG_CAP = 10_000  # lag counts at most this many entries per partition
_APPEND = """
local n = tonumber(ARGV[3])
local created, fresh = {}, {}
for i = 1, n do
  if redis.call('SET', ARGV[1] .. ARGV[2 + 2 * i], '1', 'NX', 'EX', ARGV[2]) then
    created[i] = 1
    fresh[#fresh + 1] = ARGV[3 + 2 * i]
  else
    created[i] = 0
  end
end
if #fresh > 0 then
  redis.call('XADD', KEYS[1], '*', 'n', #fresh, 'e', '[' .. table.concat(fresh, ',') .. ']')
end
return created
"""


def _id(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def _position(entry_id: bytes | str) -> Position:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


class RedisStream:
    """Stream ``name`` of ``partitions`` partitions on the Redis at ``client``."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        partitions: int,
        *,
        prefix: str = "foresight:",
        dedupe_seconds: int = DEDUPE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        check_text(name, "stream name", MAX_STREAM)
        check_partitions(partitions)
        # Typed loosely: redis-py's annotations of stream replies are too narrow to use.
        self.client: Any = client
        self.name, self.partitions = name, partitions
        self.clock, self.dedupe_seconds = clock, int(dedupe_seconds)
        self._keys = [f"{prefix}stream:{name}:{p}" for p in range(partitions)]
        self._dedupe = f"{prefix}dedupe:{name}:"
        self._script = client.register_script(_APPEND)
        self._groups: set[tuple[str, int]] = set()

    @property
    def durable(self) -> bool:
        """True only when Redis fsyncs every write to its append-only file (False when
        the server will not say: a managed Redis may refuse CONFIG)."""
        try:
            config = self.client.config_get("append*")
        except redis.ResponseError:
            return False
        get = {_text(k): _text(v) for k, v in config.items()}.get
        return get("appendonly") == "yes" and get("appendfsync") == "always"

    # -- writing -------------------------------------------------------------------------
    def append(self, records: Sequence[Record]) -> list[bool]:
        """Store ``records``; ``created`` per record (False for a known idempotency key)."""
        now = self.clock().astimezone(UTC).isoformat()
        by_part: dict[int, list[int]] = {}
        encoded: list[bytes] = []
        for i, r in enumerate(records):
            encoded.append(_encode(r, now))
            by_part.setdefault(partition_of(r.key, self.partitions), []).append(i)
        if not encoded:
            return []
        pipe = self.client.pipeline(transaction=False)
        order = sorted(by_part)
        for part in order:
            rows = by_part[part]
            args: list[Any] = [self._dedupe, self.dedupe_seconds, len(rows)]
            for i in rows:
                args += [records[i].idempotency_key, encoded[i]]
            self._script(keys=[self._keys[part]], args=args, client=pipe)
        created = [False] * len(records)
        for part, flags in zip(order, pipe.execute(), strict=True):
            for i, flag in zip(by_part[part], flags, strict=True):
                created[i] = bool(flag)
        return created

    # -- reading -------------------------------------------------------------------------
    def read(
        self,
        group: str,
        consumer: str,
        after: Mapping[int, Position],
        *,
        limit: int = 1000,
        block_ms: int = 0,
    ) -> list[Entry]:
        """Entries past each partition's position in ``after``, oldest first."""
        check_read(after, self.partitions, group, consumer, limit)
        parts = sorted(after)
        if not parts:
            return []
        # COUNT is per partition: each gets its share, so a backlog in one cannot starve
        # the others; what is cut at ``limit`` is read again from the same position.
        share = max(1, -(-limit // len(parts)))
        streams = {self._keys[p]: _id(after[p]) for p in parts}
        reply = self.client.xread(streams, count=share, block=block_ms if block_ms > 0 else None)
        part_of = {key: p for p, key in enumerate(self._keys)}
        entries = [
            Entry(part_of[_text(key)], _position(entry_id), _decode(fields))
            for key, items in reply or []
            for entry_id, fields in items
        ]
        return sorted(entries, key=lambda e: e.position)[:limit]

    def reclaim(self, group: str, consumer: str, partition: int) -> list[Entry]:
        """Nothing to move: a new owner reads from the checkpoint, whoever read before."""
        check_positions({partition: START}, self.partitions)
        return []

    def ack(self, group: str, partition: int, upto: Position) -> None:
        """Record the committed checkpoint as the group's last-delivered id; the
        checkpoint itself lives in SQL. A stream key Redis lost (a restart without AOF)
        gets its group back."""
        check_positions({partition: upto}, self.partitions)
        check_text(group, "consumer group", MAX_STREAM)
        key = self._keys[partition]
        for attempt in (1, 2):
            if (group, partition) not in self._groups:
                try:
                    self.client.xgroup_create(key, group, id="0", mkstream=True)
                except redis.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._groups.add((group, partition))
            try:
                self.client.xgroup_setid(key, group, _id(upto))
                return
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc) or attempt == 2:
                    raise
                self._groups.discard((group, partition))

    def end(self, partition: int) -> Position:
        check_positions({partition: START}, self.partitions)
        newest = self.client.xrevrange(self._keys[partition], count=1)
        return _position(newest[0][0]) if newest else START

    def lag(self, group: str, after: Mapping[int, Position]) -> dict[int, int]:
        """Entries (packed batches) past each position, counted up to ``LAG_CAP`` (a
        health probe must not read a whole backlog)."""
        check_positions(after, self.partitions)
        out = {}
        for part, pos in sorted(after.items()):
            entries = self.client.xrange(self._keys[part], min=f"({_id(pos)}", count=LAG_CAP)
            out[part] = len(entries)
        return out

    def position_before(self, partition: int, when: datetime) -> Position:
        """Entry ids are Redis's clock at the append: the newest id before ``when``."""
        check_positions({partition: START}, self.partitions)
        cut = int(when.timestamp() * 1000) - 1
        if cut < 0:
            return START
        newest = self.client.xrevrange(self._keys[partition], max=str(cut), min="-", count=1)
        return _position(newest[0][0]) if newest else START

    def trim(self, partition: int, upto: Position) -> int:
        """Delete the partition's entries at or before ``upto``."""
        check_positions({partition: upto}, self.partitions)
        return int(
            self.client.xtrim(
                self._keys[partition], minid=_id((upto[0], upto[1] + 1)), approximate=False
            )
        )


def _encode(r: Record, recorded_at: str) -> bytes:
    check_text(r.type, "event type", MAX_TYPE)
    check_text(r.idempotency_key, "idempotency key", MAX_KEY)
    if not isinstance(r.key, str) or len(r.key) > MAX_KEY:
        raise InvalidInput(f"a record's key must be a string of at most {MAX_KEY} characters")
    if r.occurred_at.tzinfo is None:
        raise InvalidInput("a record's occurred_at must be timezone-aware")
    try:
        return orjson.dumps(
            {
                "t": r.type,
                "k": r.key,
                "p": r.payload,
                "o": r.occurred_at.astimezone(UTC).isoformat(),
                "r": recorded_at,
                "i": r.idempotency_key,
            }
        )
    except TypeError as exc:
        raise InvalidInput(f"a record's payload must be JSON: {exc}") from None


def _decode(fields: Mapping[Any, Any]) -> tuple[StoredRecord, ...]:
    raw = fields.get(b"e", fields.get("e"))
    return tuple(
        StoredRecord(
            type=d["t"],
            key=d["k"],
            payload=d["p"],
            occurred_at=datetime.fromisoformat(d["o"]),
            recorded_at=datetime.fromisoformat(d["r"]),
            idempotency_key=d["i"],
        )
        for d in orjson.loads(raw)
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
