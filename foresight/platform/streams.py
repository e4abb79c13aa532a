"""Partitioned streams: append records durably, read them per partition in order, and
checkpoint how far a consumer group got.

A stream is the platform's answer to a Kafka topic. Records carry a key (a region, a
store); ``partition_of(key, n)`` puts every record of one key in one partition, so one
consumer sees a key's records in order. Positions are ordered per partition and opaque
to the caller: ``(major, minor)`` integers (the database's row id and 0; a Redis entry
id's milliseconds and sequence; a Kafka offset and 0).

Delivery is at least once. A consumer group's progress is its checkpoints
(``stream_leases.Leases``), committed in the same transaction as the state the consumer
derived from the records; anything at or before a checkpoint that comes again is skipped.
So the stream itself only appends, reads after a position, re-claims entries a dead
consumer held, acknowledges, reports lag and trims.

Backends: ``database`` (the ``events`` table; the embedded default) here, ``redis``
(Redis Streams) next, or ``module:Class`` (docs/pricing-plan.md §5 maps Kafka onto this).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from foresight.platform.backends import backend
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import MAX_KEY, MAX_PARTITIONS, MAX_STREAM, check_text

Position = tuple[int, int]
START: Position = (0, 0)  # before every record


def partition_of(key: str, partitions: int) -> int:
    """The partition of records with ``key``: CRC-32 of its UTF-8 bytes modulo
    ``partitions``; the same in every process and on every machine (``hash`` is not).

    >>> partition_of("sg-central", 8), partition_of("a", 8)
    (2, 3)
    """
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise InvalidInput(f"partitions must be a positive integer, got {partitions!r}")
    return zlib.crc32(key.encode("utf-8")) % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """One record to append. ``key`` picks the partition; ``idempotency_key`` makes a
    repeated append store nothing (the stream answers ``created=False``)."""

    type: str
    key: str
    payload: Mapping[str, Any]
    occurred_at: datetime
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back, with the time the stream stored it."""

    type: str
    key: str
    payload: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Entry:
    """What one position of a partition holds: one record on the database, possibly a
    packed batch of records on Redis."""

    partition: int
    position: Position
    records: tuple[StoredRecord, ...] = field(default_factory=tuple)


class Stream(Protocol):
    """The backend interface every stream implements (``tests/platform/test_streams.py``
    is its contract suite)."""

    name: str
    partitions: int

    @property
    def durable(self) -> bool:
        """Whether an acknowledged append survives a restart of the stream's store."""
        ...

    def append(self, records: Sequence[Record]) -> list[bool]:
        """Store records durably before returning; one ``created`` flag per record, False
        for an idempotency key already stored (or repeated earlier in ``records``)."""
        ...

    def read(
        self,
        group: str,
        consumer: str,
        after: Mapping[int, Position],
        *,
        limit: int = 1000,
        block_ms: int = 0,
    ) -> list[Entry]:
        """Entries of the partitions in ``after`` past each one's position, oldest first
        per partition, at most ``limit``; waits up to ``block_ms`` for one if none."""
        ...

    def reclaim(self, group: str, consumer: str, partition: int) -> list[Entry]:
        """Entries another consumer of ``group`` read and never acknowledged, now this
        consumer's (after it took the partition over)."""
        ...

    def ack(self, group: str, partition: int, upto: Position) -> None:
        """``group`` is done with ``partition`` up to ``upto`` (its checkpoint committed)."""
        ...

    def end(self, partition: int) -> Position:
        """The position of the partition's newest entry (``START`` when empty)."""
        ...

    def lag(self, group: str, after: Mapping[int, Position]) -> dict[int, int]:
        """Per partition, how many records lie past the group's position."""
        ...

    def position_before(self, partition: int, when: datetime) -> Position:
        """The newest position of ``partition`` stored before ``when`` (``START`` if
        none): retention trims up to it, and no further than every checkpoint."""
        ...

    def trim(self, partition: int, upto: Position) -> int:
        """Delete the partition's entries at or before ``upto``; how many went."""
        ...


def check_positions(after: Mapping[int, Position], partitions: int) -> None:
    """Refuse a partition outside the stream or a position that is not two integers."""
    for part, pos in after.items():
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < partitions:
            raise InvalidInput(f"partition {part!r} is not one of 0..{partitions - 1}")
        ok = isinstance(pos, tuple) and len(pos) == 2
        if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pos):
            raise InvalidInput(f"a position is two integers >= 0, got {pos!r}")


def check_partitions(partitions: object) -> None:
    """A stream has 1 to ``MAX_PARTITIONS`` partitions (the checkpoint column is small)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise InvalidInput(f"partitions must be an integer, got {partitions!r}")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidInput(f"a stream has 1 to {MAX_PARTITIONS} partitions, got {partitions}")


def check_read(
    after: Mapping[int, Position], partitions: int, group: str, consumer: str, limit: int
) -> None:
    """The checks every backend's ``read`` makes before it touches its store."""
    check_positions(after, partitions)
    check_text(group, "consumer group", MAX_STREAM)
    check_text(consumer, "consumer", MAX_KEY)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive integer, got {limit!r}")


STREAM_BACKENDS: dict[str, Callable[..., Stream]] = {}


def stream_from_kind(kind: str, **kw: Any) -> Stream:
    """Build the stream backend named ``kind`` (``database`` or ``module:Class``)."""
    if not STREAM_BACKENDS:  # imported here: each backend imports this module
        from foresight.platform.stream_db import DatabaseStream
        from foresight.platform.stream_redis import RedisStream

        STREAM_BACKENDS.update(database=DatabaseStream, redis=RedisStream)
    try:
        factory = backend(STREAM_BACKENDS, kind, "stream")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return factory(**kw)
