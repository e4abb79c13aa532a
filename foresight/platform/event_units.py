"""The write side of the event log: the ``events`` table, the checks an event passes before
it is stored, and :class:`Unit`, which stores events in one transaction together with the
caller's own rows. ``foresight.platform.events`` builds the log on it; import from there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput

MAX_TYPE = 100
MAX_KEY = 200
MAX_STREAM = 64
MAX_PARTITIONS = 1024  # partitions of one stream; a record's partition is below this
# SQLite's rowid alias must be declared INTEGER; PostgreSQL gets a 64-bit sequence.
OffsetType = BigInteger().with_variant(Integer(), "sqlite")
# One advisory lock id ("foresigh" in ASCII) that every publisher on PostgreSQL takes.
_PUBLISH_LOCK = 0x666F726573696768
_CHUNK = 500  # rows per INSERT: 9 columns x 500 stays far below bind-parameter limits


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        # One entity's events, in log order, either way (``read_key``).
        Index("ix_events_key_id", "key", "id"),
        # One stream partition's records in order (``streams.DatabaseStream.read``).
        Index("ix_events_stream_partition_id", "stream", "stream_partition", "id"),
        # The log's own events in order, past any number of stream records (``read``,
        # the webhooks' end of log).
        Index(
            "ix_events_log_id",
            "id",
            sqlite_where=text("stream IS NULL"),
            postgresql_where=text("stream IS NULL"),
        ),
        # AUTOINCREMENT stops SQLite reusing the ids of purged newest rows as new offsets.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(OffsetType, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(MAX_TYPE), index=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY))  # indexed by ix_events_key_id
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(MAX_KEY), unique=True)
    # A stream's record (``streams.py``) names its stream and partition; the log's own
    # readers (``read``, ``consume``, webhooks, retention) pass over such rows.
    stream: Mapped[str | None] = mapped_column(String(MAX_STREAM), nullable=True)
    stream_partition: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to publish; ``occurred_at`` defaults to now, the key to a fresh uuid4.
    ``stream`` and ``partition`` are set by a stream's append only."""

    type: str
    key: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    stream: str | None = None
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Where an event is stored; ``created`` is False when its idempotency key existed."""

    offset: int
    created: bool


class Unit:
    """One transaction on the log's database: the caller writes its own rows through
    ``session`` and appends events with ``publish``; all of it commits or none of it does.

    Units run one at a time: the unit takes the write lock as its first statement (on
    PostgreSQL the advisory lock every publisher takes, on SQLite ``BEGIN IMMEDIATE``)
    and holds it until it ends. So a unit that reads a row, checks it and writes it back
    cannot lose another unit's update, and offsets commit in order. Keep a unit short:
    do its slow work (outside calls, heavy reads) before opening it.
    """

    def __init__(self, session: Session, *, clock: Callable[[], datetime]) -> None:
        self.session = session
        self._clock = clock
        dialect = session.get_bind().dialect.name
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        self._open = True
        # The lock comes first, before the caller reads anything: a lock taken at the first
        # publish would let two units read the same version and both write it back.
        if dialect == "postgresql":
            # Also orders the offsets: ids drawn and committed under one lock commit in
            # order, so no reader passes id 10 while id 9 is still to come.
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
        elif dialect == "sqlite":
            # pysqlite begins a transaction only at the first write; IMMEDIATE takes
            # SQLite's one write lock now (waiting up to busy_timeout for it).
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")

    def publish(self, item: NewEvent) -> PublishResult:
        """Append one event in this unit (or report the stored one with the same
        idempotency key, also when this unit stored it); the offset is known at once."""
        return self.publish_many([item])[0]

    def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]:
        """Append events in this unit; results follow the order of ``items``.

        An item whose idempotency key is already stored (or stored earlier in this unit),
        or repeats an earlier item of the batch, is skipped and reported with the first
        event's offset and ``created=False``. Every item is checked before anything is
        written, so a refused batch leaves the unit as it was.
        """
        if not self._open:
            raise RuntimeError("this unit has ended; publish inside its `with` block")
        now = self._clock()
        rows = [event_row(item, now) for item in items]
        if not rows:
            return []
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(row["idempotency_key"], row)
        created = self._insert_new(list(first.values()))
        existing = self._offsets_of([k for k in first if k not in created])
        results, seen = [], set()
        for row in rows:
            ikey = row["idempotency_key"]
            is_new = ikey in created and ikey not in seen
            seen.add(ikey)
            offset = created[ikey] if ikey in created else existing[ikey]
            results.append(PublishResult(offset, is_new))
        return results

    def _insert_new(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Insert rows whose key is new, atomically (ON CONFLICT DO NOTHING); key -> offset."""
        # One statement with many parameter sets: SQLAlchemy sends them as multi-row
        # batches ("insertmanyvalues") compiled once, where a fresh VALUES list per chunk
        # was compiled every time (most of a bulk publish's cost).
        table = cast(Table, EventRow.__table__)
        stmt = (
            self._insert(table)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.idempotency_key, table.c.id)
        )
        created: dict[str, int] = {}
        for start in range(0, len(rows), _CHUNK * 4):
            result = self.session.execute(stmt, rows[start : start + _CHUNK * 4])
            created.update({ikey: offset for ikey, offset in result})
        return created

    def _offsets_of(self, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            query = select(EventRow.idempotency_key, EventRow.id)
            rows = self.session.execute(query.where(EventRow.idempotency_key.in_(chunk)))
            found.update({ikey: offset for ikey, offset in rows})
        return found


@contextmanager
def open_unit(db: Database, *, clock: Callable[[], datetime] = utcnow) -> Iterator[Unit]:
    """A :class:`Unit` on ``db``: committed when the block ends, rolled back if it raises."""
    with db.session() as session:
        unit = Unit(session, clock=clock)
        try:
            yield unit
        finally:
            unit._open = False


def event_row(item: NewEvent, now: datetime) -> dict[str, Any]:
    """Check one event to publish and turn it into an ``events`` row."""
    check_text(item.type, "event type", MAX_TYPE)
    check_key(item.key)
    if not isinstance(item.payload, Mapping):
        raise InvalidInput(
            f"event payload must be a JSON object, got {type(item.payload).__name__}"
        )
    try:
        encoded = json.dumps(item.payload, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"event payload must be JSON without NaN or Infinity: {exc}",
            details={"field": "payload"},
        ) from None
    if "\\u0000" in encoded:  # PostgreSQL's JSONB cannot store NUL; refuse it on every backend
        raise InvalidInput("event payload must not contain NUL characters")
    if item.occurred_at is not None:
        check_time(item.occurred_at, "occurred_at")
    ikey = item.idempotency_key
    if ikey is None:
        ikey = str(uuid.uuid4())
    check_text(ikey, "idempotency key", MAX_KEY)
    if item.stream is not None:
        check_text(item.stream, "stream name", MAX_STREAM)
        part = item.partition
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < MAX_PARTITIONS:
            raise InvalidInput(f"a stream record's partition must be 0..{MAX_PARTITIONS - 1}")
    elif item.partition is not None:
        raise InvalidInput("a partition belongs to a stream record; give the stream too")
    return {
        "type": item.type,
        "key": item.key,
        "payload": json.loads(encoded),  # the stored form, identical on every backend
        "occurred_at": item.occurred_at or now,
        "recorded_at": now,
        "idempotency_key": ikey,
        "stream": item.stream,
        "stream_partition": item.partition,
    }


def _plain(value: Any) -> Any:
    """A NumPy scalar as its Python value (predictions are full of them); anything else
    that JSON cannot hold is refused as before."""
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def check_key(value: object) -> None:
    """An event key is any string up to ``MAX_KEY`` characters (the empty one included)."""
    if not isinstance(value, str) or len(value) > MAX_KEY:
        raise InvalidInput(f"event key must be a string of at most {MAX_KEY} characters")


def check_text(value: object, what: str, max_length: int) -> None:
    """Refuse anything but a non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidInput(f"{what} must be at most {max_length} characters, got {len(value)}")


def check_time(value: object, what: str) -> None:
    """Refuse anything but a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {value!r}")
