"""The append-only event log: publish, read from an offset or by key, consumer offsets,
retention, and atomic units that commit a caller's rows together with its events.

``EventLog`` is the backend interface (a future Redis Streams backend implements it too);
``DatabaseEventLog`` keeps the log in two tables on SQLite or PostgreSQL. The write side
(the ``events`` table, the checks, :class:`Unit`) lives in ``event_units``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, String, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.backends import backend
from foresight.platform.db.base import Base, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import (
    MAX_KEY,
    EventRow,
    NewEvent,
    OffsetType,
    PublishResult,
    Unit,
    check_key,
    check_text,
    check_time,
    open_unit,
)

__all__ = [
    "EVENT_LOG_BACKENDS",
    "DatabaseEventLog",
    "Event",
    "EventLog",
    "EventOffsetRow",
    "EventRow",
    "NewEvent",
    "PublishResult",
    "Unit",
    "event_log_from_kind",
]


class EventOffsetRow(Base):
    __tablename__ = "event_offsets"

    consumer: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    offset: Mapped[int] = mapped_column(OffsetType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event; ``offset`` is its position in the log."""

    offset: int
    type: str
    key: str
    payload: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str


class EventLog(Protocol):
    """The backend interface every event log implements (and the contract tests check)."""

    def publish(
        self,
        type: str,
        key: str,
        payload: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> PublishResult: ...

    def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]: ...

    def atomic(self) -> AbstractContextManager[Unit]: ...

    def read(
        self, since: int = 0, *, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]: ...

    def read_key(
        self,
        key: str,
        *,
        since: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
        newest_first: bool = False,
    ) -> list[Event]: ...

    def iter_key(
        self, key: str, *, since: int = 0, types: Collection[str] | None = None, page: int = 1000
    ) -> Iterator[Event]: ...

    def committed(self, consumer: str) -> int: ...

    def commit(self, consumer: str, offset: int) -> None: ...

    def consume(
        self, consumer: str, handler: Callable[[list[Event]], None], *, limit: int = 1000
    ) -> int: ...

    def purge(self, before: datetime, *, keep_types: Collection[str] = ()) -> int: ...


class DatabaseEventLog:
    """The event log in two SQL tables, on SQLite or PostgreSQL.

    Offsets never skip for a reader: an event becomes visible only after every event with
    a lower offset is visible. SQLite has one writer at a time; on PostgreSQL publishers
    take a transaction-scoped advisory lock before drawing ids from the sequence, so ids
    commit in order (without it, id 9 could commit after a reader has passed id 10).
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        dialect = db.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(f"the database event log needs SQLite or PostgreSQL, not {dialect}")
        self.db, self.clock = db, clock
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert

    def publish(
        self,
        type: str,
        key: str,
        payload: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """Append one event (or return the stored one with the same idempotency key)."""
        item = NewEvent(type, key, payload, occurred_at, idempotency_key)
        return self.publish_many([item])[0]

    def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]:
        """Append events in one transaction; results follow the order of ``items``.

        An item whose idempotency key is already stored, or repeats an earlier item of the
        batch, is skipped and reported with the first event's offset and ``created=False``.
        """
        with self.atomic() as unit:
            return unit.publish_many(items)

    def atomic(self) -> AbstractContextManager[Unit]:
        """A :class:`Unit`: the caller's rows (``unit.session``) and its events
        (``unit.publish``) commit together when the block ends, or not at all if it raises.

        ``with log.atomic() as unit:``
        ``    unit.session.add(row); row.offset = unit.publish(NewEvent(...)).offset``
        """
        return open_unit(self.db, clock=self.clock)

    def read(
        self, since: int = 0, *, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]:
        """Events after offset ``since``, oldest first, at most ``limit``, only of ``types``."""
        query = _after(since, limit=limit, types=types)
        return self._fetch(query.order_by(EventRow.id).limit(limit))

    def read_key(
        self,
        key: str,
        *,
        since: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """The events of one ``key`` after offset ``since``, only of ``types``, at most
        ``limit``: the oldest first, or with ``newest_first`` the newest (and first)."""
        check_key(key)
        query = _after(since, limit=limit, types=types).where(EventRow.key == key)
        order = EventRow.id.desc() if newest_first else EventRow.id
        return self._fetch(query.order_by(order).limit(limit))

    def iter_key(
        self, key: str, *, since: int = 0, types: Collection[str] | None = None, page: int = 1000
    ) -> Iterator[Event]:
        """Every event of one ``key`` after ``since``, oldest first, read ``page`` at a
        time: ``read_key`` stops at its limit, this does not (a rebuild needs them all)."""
        while batch := self.read_key(key, since=since, limit=page, types=types):
            yield from batch
            if len(batch) < page:
                return
            since = batch[-1].offset

    def _fetch(self, query: Select[EventRow]) -> list[Event]:
        with self.db.session() as session:
            return [_event(row) for row in session.scalars(query).all()]

    def committed(self, consumer: str) -> int:
        """The offset ``consumer`` has committed (0 if it never did)."""
        check_text(consumer, "consumer", MAX_KEY)
        with self.db.session() as session:
            offset = session.get(EventOffsetRow, consumer)
            return offset.offset if offset is not None else 0

    def commit(self, consumer: str, offset: int) -> None:
        """Record that ``consumer`` has handled everything up to ``offset``; never moves back."""
        check_text(consumer, "consumer", MAX_KEY)
        _check_offset(offset, "offset")
        values = {"consumer": consumer, "offset": offset, "updated_at": self.clock()}
        stmt = self._insert(EventOffsetRow).values(values)
        # One atomic upsert, so two racing commits can only ever leave the larger offset.
        stmt = stmt.on_conflict_do_update(
            index_elements=["consumer"],
            set_={"offset": stmt.excluded.offset, "updated_at": stmt.excluded.updated_at},
            where=EventOffsetRow.offset < stmt.excluded.offset,
        )
        with self.db.session() as session:
            session.execute(stmt)

    def consume(
        self, consumer: str, handler: Callable[[list[Event]], None], *, limit: int = 1000
    ) -> int:
        """Hand the next events after ``consumer``'s offset to ``handler``, then commit.

        At-least-once: if ``handler`` raises, nothing is committed and the same events come
        again next time, so handlers must be idempotent (the event's offset or idempotency
        key is a natural de-duplication key). Returns how many events were handled.
        """
        events = self.read(self.committed(consumer), limit=limit)
        if not events:
            return 0
        handler(events)
        self.commit(consumer, events[-1].offset)
        return len(events)

    def purge(self, before: datetime, *, keep_types: Collection[str] = ()) -> int:
        """Delete events recorded before ``before`` that every consumer has committed past,
        except those of ``keep_types`` (state is rebuilt from them: they stay for good).

        Retention is by time, but a consumer that lags behind holds back the purge of what
        it has not handled yet (so an abandoned consumer holds it back for good). With no
        consumers at all, time alone decides. Returns how many events were deleted.
        """
        check_time(before, "before")
        _check_types(keep_types, "keep_types")
        with self.db.session() as session:
            floor = session.scalar(select(func.min(EventOffsetRow.offset)))
            # A stream's records go with the stream's trim, behind its checkpoints.
            stmt = delete(EventRow).where(EventRow.recorded_at < before, EventRow.stream.is_(None))
            if floor is not None:
                stmt = stmt.where(EventRow.id <= floor)
            if keep_types:
                stmt = stmt.where(EventRow.type.not_in(list(keep_types)))
            return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


EVENT_LOG_BACKENDS: dict[str, Callable[..., EventLog]] = {"database": DatabaseEventLog}


def event_log_from_kind(kind: str, db: Database, **kw: Any) -> EventLog:
    """Build the event log backend named ``kind`` (e.g. ``"database"``)."""
    try:
        factory = backend(EVENT_LOG_BACKENDS, kind, "event log")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return factory(db, **kw)  # type: ignore[no-any-return]


def _after(since: int, *, limit: int, types: Collection[str] | None) -> Select[EventRow]:
    """The checked query for events after ``since`` (of ``types``), unordered."""
    _check_offset(since, "since")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
    # A stream's records are read through the stream (its partitions and checkpoints):
    # a reader of the whole log, such as a "*" webhook, never sees them.
    query = select(EventRow).where(EventRow.id > since, EventRow.stream.is_(None))
    if types is not None:
        _check_types(types, "types")
        query = query.where(EventRow.type.in_(list(types)))
    return query


def _event(row: EventRow) -> Event:
    return Event(
        offset=row.id,
        type=row.type,
        key=row.key,
        payload=row.payload,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        idempotency_key=row.idempotency_key,
    )


def _check_types(value: object, what: str) -> None:
    if isinstance(value, str):
        raise InvalidInput(f"{what} must be a collection of event types, not one string")


def _check_offset(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be an integer offset >= 0, got {value!r}")
