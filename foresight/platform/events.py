"""The append-only event log: publish, read from an offset, consumer offsets, retention.

``EventLog`` is the backend interface (a future Redis Streams backend implements it too);
``DatabaseEventLog`` keeps the log in two tables on SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, String, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.platform.backends import backend
from foresight.platform.db.base import Base, JSONType, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput

MAX_TYPE = 100
MAX_KEY = 200
# SQLite's rowid alias must be declared INTEGER; PostgreSQL gets a 64-bit sequence.
OffsetType = BigInteger().with_variant(Integer(), "sqlite")
# One advisory lock id ("foresigh" in ASCII) that every publisher on PostgreSQL takes.
_PUBLISH_LOCK = 0x666F726573696768
_CHUNK = 500  # rows per INSERT: 7 columns x 500 stays far below bind-parameter limits


class EventRow(Base):
    __tablename__ = "events"
    # AUTOINCREMENT stops SQLite reusing the ids of purged newest rows as new offsets.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(OffsetType, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(MAX_TYPE), index=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(MAX_KEY), unique=True)


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


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to publish; ``occurred_at`` defaults to now, the key to a fresh uuid4."""

    type: str
    key: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Where an event is stored; ``created`` is False when its idempotency key existed."""

    offset: int
    created: bool


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

    def read(
        self, since: int = 0, *, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]: ...

    def committed(self, consumer: str) -> int: ...

    def commit(self, consumer: str, offset: int) -> None: ...

    def consume(
        self, consumer: str, handler: Callable[[list[Event]], None], *, limit: int = 1000
    ) -> int: ...

    def purge(self, before: datetime) -> int: ...


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
        self._serialise = dialect == "postgresql"

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
        now = self.clock()
        rows = [_row(item, now) for item in items]
        if not rows:
            return []
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(row["idempotency_key"], row)
        with self.db.session() as session:
            if self._serialise:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
            created = self._insert_new(session, list(first.values()))
            existing = self._offsets_of(session, [k for k in first if k not in created])
        results, seen = [], set()
        for row in rows:
            ikey = row["idempotency_key"]
            is_new = ikey in created and ikey not in seen
            seen.add(ikey)
            offset = created[ikey] if ikey in created else existing[ikey]
            results.append(PublishResult(offset, is_new))
        return results

    def _insert_new(self, session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Insert rows whose key is new, atomically (ON CONFLICT DO NOTHING); key -> offset."""
        created: dict[str, int] = {}
        for start in range(0, len(rows), _CHUNK):
            stmt = (
                self._insert(EventRow)
                .values(rows[start : start + _CHUNK])
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(EventRow.idempotency_key, EventRow.id)
            )
            created.update({ikey: offset for ikey, offset in session.execute(stmt)})
        return created

    def _offsets_of(self, session: Session, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            query = select(EventRow.idempotency_key, EventRow.id)
            rows = session.execute(query.where(EventRow.idempotency_key.in_(chunk)))
            found.update({ikey: offset for ikey, offset in rows})
        return found

    def read(
        self, since: int = 0, *, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]:
        """Events after offset ``since``, oldest first, at most ``limit``, only of ``types``."""
        _check_offset(since, "since")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
        if isinstance(types, str):
            raise InvalidInput("types must be a collection of event types, not one string")
        query = select(EventRow).where(EventRow.id > since)
        if types is not None:
            query = query.where(EventRow.type.in_(list(types)))
        with self.db.session() as session:
            rows = session.scalars(query.order_by(EventRow.id).limit(limit)).all()
            return [_event(row) for row in rows]

    def committed(self, consumer: str) -> int:
        """The offset ``consumer`` has committed (0 if it never did)."""
        _check_text(consumer, "consumer", MAX_KEY)
        with self.db.session() as session:
            offset = session.get(EventOffsetRow, consumer)
            return offset.offset if offset is not None else 0

    def commit(self, consumer: str, offset: int) -> None:
        """Record that ``consumer`` has handled everything up to ``offset``; never moves back."""
        _check_text(consumer, "consumer", MAX_KEY)
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

    def purge(self, before: datetime) -> int:
        """Delete events recorded before ``before`` that every consumer has committed past.

        Retention is by time, but a consumer that lags behind holds back the purge of what
        it has not handled yet (so an abandoned consumer holds it back for good). With no
        consumers at all, time alone decides. Returns how many events were deleted.
        """
        _check_time(before, "before")
        with self.db.session() as session:
            floor = session.scalar(select(func.min(EventOffsetRow.offset)))
            stmt = delete(EventRow).where(EventRow.recorded_at < before)
            if floor is not None:
                stmt = stmt.where(EventRow.id <= floor)
            return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


EVENT_LOG_BACKENDS: dict[str, Callable[..., EventLog]] = {"database": DatabaseEventLog}


def event_log_from_kind(kind: str, db: Database, **kw: Any) -> EventLog:
    """Build the event log backend named ``kind`` (e.g. ``"database"``)."""
    try:
        factory = backend(EVENT_LOG_BACKENDS, kind, "event log")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return factory(db, **kw)  # type: ignore[no-any-return]


def _row(item: NewEvent, now: datetime) -> dict[str, Any]:
    """Validate one event to publish and turn it into an ``events`` row."""
    _check_text(item.type, "event type", MAX_TYPE)
    if not isinstance(item.key, str) or len(item.key) > MAX_KEY:
        raise InvalidInput(f"event key must be a string of at most {MAX_KEY} characters")
    if not isinstance(item.payload, Mapping):
        raise InvalidInput(
            f"event payload must be a JSON object, got {type(item.payload).__name__}"
        )
    try:
        encoded = json.dumps(item.payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"event payload must be JSON without NaN or Infinity: {exc}",
            details={"field": "payload"},
        ) from None
    if "\\u0000" in encoded:  # PostgreSQL's JSONB cannot store NUL; refuse it on every backend
        raise InvalidInput("event payload must not contain NUL characters")
    if item.occurred_at is not None:
        _check_time(item.occurred_at, "occurred_at")
    ikey = item.idempotency_key
    if ikey is None:
        ikey = str(uuid.uuid4())
    _check_text(ikey, "idempotency key", MAX_KEY)
    return {
        "type": item.type,
        "key": item.key,
        "payload": json.loads(encoded),  # the stored form, identical on every backend
        "occurred_at": item.occurred_at or now,
        "recorded_at": now,
        "idempotency_key": ikey,
    }


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


def _check_text(value: object, what: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidInput(f"{what} must be at most {max_length} characters, got {len(value)}")


def _check_offset(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be an integer offset >= 0, got {value!r}")


def _check_time(value: object, what: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {value!r}")
