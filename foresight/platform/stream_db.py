"""The embedded stream: a stream's records are rows of the platform's ``events`` table.

An append is one event-log unit, so it is durable when it returns and positions (row
ids) become visible in order: the log's publish lock guarantees that no reader passes id
10 while id 9 is still to commit. Acknowledging and re-claiming are no-ops here: the
checkpoint (``stream_leases``) is the acknowledgement, and taking a partition's lease
over is the re-claim. A reader in the appending process is woken at once; others poll
within ``block_ms``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import (
    MAX_KEY,
    MAX_STREAM,
    EventRow,
    NewEvent,
    check_text,
    open_unit,
)
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

_POLL_S = 0.05  # how often a blocked read looks again for another process's appends


class DatabaseStream:
    """Stream ``name`` of ``partitions`` partitions in the database ``db``."""

    durable = True

    def __init__(
        self,
        db: Database,
        name: str,
        partitions: int,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        check_text(name, "stream name", MAX_STREAM)
        check_partitions(partitions)
        self.db, self.name, self.partitions, self.clock = db, name, partitions, clock
        self._appended = threading.Condition()
        self._ikey = f"stream:{name}:"

    def append(self, records: Sequence[Record]) -> list[bool]:
        """Store ``records`` in one transaction; ``created`` per record."""
        room = MAX_KEY - len(self._ikey)
        for r in records:
            if not isinstance(r.idempotency_key, str) or len(r.idempotency_key) > room:
                raise InvalidInput(
                    f"a record's idempotency key is a string of at most {room} characters "
                    f"on stream {self.name!r}"
                )
        items = [
            NewEvent(
                r.type,
                r.key,
                r.payload,
                r.occurred_at,
                self._ikey + r.idempotency_key,  # unique per stream, not across the log
                stream=self.name,
                partition=partition_of(r.key, self.partitions),
            )
            for r in records
        ]
        if not items:
            return []
        with open_unit(self.db, clock=self.clock) as unit:
            results = unit.publish_many(items)
        with self._appended:
            self._appended.notify_all()
        return [r.created for r in results]

    def read(
        self,
        group: str,
        consumer: str,
        after: Mapping[int, Position],
        *,
        limit: int = 1000,
        block_ms: int = 0,
    ) -> list[Entry]:
        """Entries past ``after`` (one per record), oldest first within each partition."""
        check_read(after, self.partitions, group, consumer, limit)
        entries = self._read(after, limit)
        deadline = time.monotonic() + block_ms / 1000
        while not entries and (left := deadline - time.monotonic()) > 0:
            with self._appended:  # an append in this process wakes the reader at once
                self._appended.wait(min(_POLL_S, left))
            entries = self._read(after, limit)
        return entries

    def _read(self, after: Mapping[int, Position], limit: int) -> list[Entry]:
        # Each partition gets its share of the limit first, so a backlog in one cannot
        # starve the others; what a quiet partition leaves goes to the rest.
        share = max(1, -(-limit // max(1, len(after))))
        out: list[Entry] = []
        full: list[int] = []
        with self.db.session() as session:
            for part, (major, _) in sorted(after.items()):
                got = self._page(session, part, major, min(share, limit - len(out)))
                out.extend(got)
                if len(got) == share:
                    full.append(part)
            for part in full:
                if len(out) >= limit:
                    break
                last = max(e.position[0] for e in out if e.partition == part)
                out.extend(self._page(session, part, last, limit - len(out)))
        return sorted(out, key=lambda e: e.position)

    def _page(self, session: Session, part: int, after_id: int, n: int) -> list[Entry]:
        if n <= 0:
            return []
        query = (
            select(EventRow)
            .where(
                EventRow.stream == self.name,
                EventRow.stream_partition == part,
                EventRow.id > after_id,
            )
            .order_by(EventRow.id)
            .limit(n)
        )
        return [_entry(part, row, len(self._ikey)) for row in session.scalars(query)]

    def reclaim(self, group: str, consumer: str, partition: int) -> list[Entry]:
        """Nothing to re-claim: a record is read again from the checkpoint."""
        check_positions({partition: START}, self.partitions)
        return []

    def ack(self, group: str, partition: int, upto: Position) -> None:
        """Nothing to do: the committed checkpoint is the acknowledgement."""
        check_positions({partition: upto}, self.partitions)

    def end(self, partition: int) -> Position:
        check_positions({partition: START}, self.partitions)
        with self.db.session() as session:
            newest = session.scalar(
                select(func.max(EventRow.id)).where(
                    EventRow.stream == self.name, EventRow.stream_partition == partition
                )
            )
        return (int(newest), 0) if newest is not None else START

    def lag(self, group: str, after: Mapping[int, Position]) -> dict[int, int]:
        """Records past each position in ``after`` (the group's checkpoints)."""
        check_positions(after, self.partitions)
        out: dict[int, int] = {}
        with self.db.session() as session:
            for part, (major, _) in sorted(after.items()):
                count = session.scalar(
                    select(func.count())
                    .select_from(EventRow)
                    .where(
                        EventRow.stream == self.name,
                        EventRow.stream_partition == part,
                        EventRow.id > major,
                    )
                )
                out[part] = int(count or 0)
        return out

    def position_before(self, partition: int, when: datetime) -> Position:
        check_positions({partition: START}, self.partitions)
        with self.db.session() as session:
            newest = session.scalar(
                select(func.max(EventRow.id)).where(
                    EventRow.stream == self.name,
                    EventRow.stream_partition == partition,
                    EventRow.recorded_at < when,
                )
            )
        return (int(newest), 0) if newest is not None else START

    def trim(self, partition: int, upto: Position) -> int:
        """Delete the partition's records at or before ``upto``. Give it the lowest
        checkpoint of every group, and only records older than the producers' retry
        window: a trimmed record's idempotency key is forgotten with it."""
        check_positions({partition: upto}, self.partitions)
        stmt = delete(EventRow).where(
            EventRow.stream == self.name,
            EventRow.stream_partition == partition,
            EventRow.id <= upto[0],
        )
        with self.db.session() as session:
            return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _entry(partition: int, row: EventRow, namespace: int) -> Entry:
    record = StoredRecord(
        type=row.type,
        key=row.key,
        payload=row.payload,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        idempotency_key=row.idempotency_key[namespace:],
    )
    return Entry(partition, (row.id, 0), (record,))
