"""Who sends to a webhook subscriber, and what the sender records.

For each subscriber one process at a time holds a lease (a conditional ``UPDATE`` of its
row). Every record a lease holder writes (counters, back-off, dead letters, the committed
offset) is one transaction that first re-checks, by a conditional ``UPDATE``, that it
still holds the lease and the subscriber is active: a subscriber removed meanwhile (or
taken over after an expired lease) gets nothing written, not even its offset, so a
removed subscriber's offset never comes back to hold back the event log's purge.

The ``EventLog`` interface has neither "where does the log end" nor "commit within this
transaction"; both come from the database event log's tables, which live in the same
database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.events import EventLog, EventOffsetRow, EventRow

log = structlog.get_logger(__name__)

_W, _D = WebhookRow, WebhookDeliveryRow
_NO_SYNC = {"synchronize_session": False}
_MAX_ERROR = 500


def consumer_name(webhook_id: int) -> str:
    """The subscriber's consumer name in the event log."""
    return f"webhook:{webhook_id}"


def commit_offset(s: Session, webhook_id: int, offset: int, *, now: datetime) -> None:
    """Move the subscriber's committed offset to ``offset`` within the transaction ``s``
    (the same atomic never-backwards upsert as ``DatabaseEventLog.commit``)."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"consumer": consumer_name(webhook_id), "offset": offset, "updated_at": now}
    stmt = insert(EventOffsetRow).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["consumer"],
        set_={"offset": stmt.excluded.offset, "updated_at": stmt.excluded.updated_at},
        where=EventOffsetRow.offset < stmt.excluded.offset,
    )
    s.execute(stmt)


@dataclass(frozen=True)
class DispatchPolicy:
    """How hard the dispatcher tries, and how gently."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    rate_per_second: float = 10.0
    pause_after: int = 3
    pause_seconds: float = 60.0
    max_pause_seconds: float = 3600.0
    lease_seconds: float = 60.0
    # The longest wait for the rate bound inside a lease; a longer one ends the lease and
    # ``due()`` brings the subscriber back in time (a lease must never outlast its sleep).
    nap_seconds: float = 1.0
    page: int = 50  # items read per lease: bounds memory per subscriber

    @property
    def interval(self) -> timedelta:
        """The least time between two requests to one subscriber."""
        return timedelta(seconds=1.0 / self.rate_per_second)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (exponential, capped)."""
        seconds = self.backoff_seconds * 2 ** min(attempts - 1, 30)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))

    def pause(self, consecutive_dead: int) -> timedelta | None:
        """How long a subscriber with that many dead deliveries in a row rests, if at all."""
        if consecutive_dead < self.pause_after:
            return None
        seconds = self.pause_seconds * 2 ** min(consecutive_dead - self.pause_after, 30)
        return timedelta(seconds=min(seconds, self.max_pause_seconds))


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to send: an event from the log (``offset``) or a stored row (``row_id``)."""

    key: str  # "event:<offset>" or "row:<row id>": what a retry count belongs to
    delivery_id: str  # X-Foresight-Delivery: the same for every attempt and replay
    event: str
    payload: dict[str, Any]
    body: bytes
    offset: int | None = None
    row_id: int | None = None


@dataclass(slots=True)
class Subscriber:
    """What a lease holder knows about the subscriber it sends to."""

    id: int
    url: str
    secret: str
    types: list[str] | None  # None: every event
    position: int  # the offset after which events are still to send
    head: str | None
    attempts: int
    consecutive_dead: int
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one request."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


def delivery_id(offset: int | None, row_id: int) -> str:
    """A stable delivery id: from the event's offset (rows from before 0006: the row id)."""
    return f"event-{offset}" if offset is not None else str(row_id)


class Leases:
    """The subscribers' rows: who is due, who holds which lease, and each result's record."""

    def __init__(
        self,
        db: Database,
        events: EventLog,
        *,
        policy: DispatchPolicy,
        owner: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.db, self.events, self.policy = db, events, policy
        self.owner, self.clock = owner, clock

    # ---- reading -----------------------------------------------------------------------
    def log_end(self) -> int:
        """The newest offset in the event log (0 if empty)."""
        with self.db.session() as s:
            newest = select(func.coalesce(func.max(EventRow.id), 0)).where(
                EventRow.stream.is_(None)
            )
            return int(s.scalar(newest) or 0)

    def position(self, webhook_id: int, start_offset: int) -> int:
        """The offset after which ``webhook_id`` still has events to receive."""
        return max(self.events.committed(consumer_name(webhook_id)), start_offset)

    def waiting(self, row: WebhookRow) -> int:
        """Events (of its types) the subscriber has not received yet, replays included."""
        position = self.position(row.id, row.start_offset)
        query = (
            select(func.count())
            .select_from(EventRow)
            .where(EventRow.id > position, EventRow.stream.is_(None))
        )
        if "*" not in row.events:
            query = query.where(EventRow.type.in_(row.events))
        pending = select(func.count()).where(_D.webhook_id == row.id, _D.status == "pending")
        with self.db.session() as s:
            return int(s.scalar(query) or 0) + int(s.scalar(pending) or 0)

    def due(self) -> tuple[list[int], datetime | None]:
        """Subscribers with something to send now, and when the next blocked one frees up."""
        now, end = self.clock(), self.log_end()
        has_pending = exists().where(_D.webhook_id == _W.id, _D.status == "pending")
        columns = (_W.id, _W.start_offset, _W.head, _W.lease_owner, _W.lease_until)
        query = select(*columns, _W.paused_until, _W.next_attempt_at, has_pending.label("p"))
        with self.db.session() as s:
            rows = s.execute(query.where(_W.active.is_(True)).order_by(_W.id)).all()
        ready: list[int] = []
        wake_at: datetime | None = None
        for r in rows:
            if not r.p and r.head is None and self.position(r.id, r.start_offset) >= end:
                continue  # caught up
            blocked = [t for t in (r.paused_until, r.next_attempt_at) if t and t > now]
            if r.lease_owner not in (None, self.owner) and r.lease_until and r.lease_until > now:
                blocked.append(r.lease_until)
            if blocked:
                wake_at = max(blocked) if wake_at is None else min(wake_at, max(blocked))
            else:
                ready.append(r.id)
        return ready, wake_at

    # ---- the lease ---------------------------------------------------------------------
    def claim(self, webhook_id: int) -> Subscriber | None:
        """Take the lease on ``webhook_id`` if it is free and due; None if not won."""
        now = self.clock()
        # One atomic conditional UPDATE: of two processes racing, exactly one row count is 1.
        stmt = (
            update(_W)
            .where(
                _W.id == webhook_id,
                _W.active.is_(True),
                or_(_W.lease_until.is_(None), _W.lease_until < now, _W.lease_owner == self.owner),
                or_(_W.paused_until.is_(None), _W.paused_until <= now),
                or_(_W.next_attempt_at.is_(None), _W.next_attempt_at <= now),
            )
            .values(lease_owner=self.owner, lease_until=now + self._lease)
            .execution_options(**_NO_SYNC)
        )
        with self.db.session() as s:
            if s.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = s.get(_W, webhook_id)
            assert row is not None
            sub = Subscriber(
                id=row.id,
                url=row.url,
                secret=row.secret,
                types=None if "*" in row.events else list(row.events),
                position=row.start_offset,
                head=row.head,
                attempts=row.attempts,
                consecutive_dead=row.consecutive_dead,
                next_attempt_at=row.next_attempt_at,
            )
        sub.position = self.position(sub.id, sub.position)
        return sub

    def release(self, webhook_id: int | None = None) -> None:
        """Give up this owner's lease on ``webhook_id`` (None: every lease it holds)."""
        mine = _W.lease_owner == self.owner
        where = mine if webhook_id is None else and_(mine, _W.id == webhook_id)
        stmt = update(_W).where(where).values(lease_owner=None, lease_until=None)
        with self.db.session() as s:
            s.execute(stmt.execution_options(**_NO_SYNC))

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.policy.lease_seconds)

    # ---- records -----------------------------------------------------------------------
    def caught_up(self, sub: Subscriber, end: int) -> bool:
        """Move past events not of its types up to ``end``; False if it is no longer ours."""
        now = self.clock()
        with self.db.session() as s:
            won = self._set(s, sub, lease_until=now + self._lease)
            if won:
                commit_offset(s, sub.id, end, now=now)
        if won:
            sub.position = end
        return won

    def delivered(self, sub: Subscriber, item: Item, outcome: Outcome) -> bool:
        """Record a delivery; False if the subscriber is no longer ours (stop sending)."""
        now, tried = self.clock(), self._attempts(sub, item) + 1
        next_at = now + self.policy.interval
        with self.db.session() as s:
            won = self._set(
                s,
                sub,
                delivered=_W.delivered + 1,
                attempts=0,
                head=None,
                consecutive_dead=0,
                next_attempt_at=next_at,
                lease_until=now + self._lease,
                last_delivered_at=now,
                last_error=None,
            )
            if won and item.row_id is not None:
                ended = {"response_status": outcome.status_code, "finished_at": now}
                self._finish_row(s, item, status="delivered", tried=tried, last_error=None, **ended)
            elif won and item.offset is not None:
                commit_offset(s, sub.id, item.offset, now=now)
        if not won:  # removed meanwhile, or another process took over an expired lease
            log.warning("webhook_send_stopped", webhook_id=sub.id, owner=self.owner)
            return False
        if item.offset is not None:
            sub.position = item.offset
        sub.head, sub.attempts, sub.consecutive_dead, sub.next_attempt_at = None, 0, 0, next_at
        return True

    def failed(self, sub: Subscriber, item: Item, outcome: Outcome) -> bool:
        """Record a failed attempt: back off, or after the last one a dead delivery (and
        the offset moves on). True if the delivery is now dead."""
        now, tried = self.clock(), self._attempts(sub, item) + 1
        error = (outcome.error or "failed")[:_MAX_ERROR]
        if tried < self.policy.max_attempts:
            retry_at = now + max(self.policy.backoff(tried), self.policy.interval)
            with self.db.session() as s:
                values = {"head": item.key, "attempts": tried, "last_error": error}
                self._set(s, sub, next_attempt_at=retry_at, **values)
            return False
        dead = sub.consecutive_dead + 1
        pause = self.policy.pause(dead)
        ended = {"last_error": error, "response_status": outcome.status_code, "finished_at": now}
        with self.db.session() as s:
            won = self._set(
                s,
                sub,
                attempts=0,
                head=None,
                failed=_W.failed + 1,
                consecutive_dead=dead,
                paused_until=now + pause if pause else None,
                next_attempt_at=now + self.policy.interval,
                last_error=error,
            )
            if won and item.row_id is not None:
                self._finish_row(s, item, status="dead", tried=tried, **ended)
            elif won:
                s.add(
                    _D(
                        webhook_id=sub.id,
                        event=item.event,
                        payload=item.payload,
                        status="dead",
                        attempts=tried,
                        event_offset=item.offset,
                        created_at=now,
                        **ended,
                    )
                )
                if item.offset is not None:
                    commit_offset(s, sub.id, item.offset, now=now)
        if not won:
            return False  # the next lease holder retries it
        log.warning(
            "webhook_dead",
            webhook_id=sub.id,
            dedup_id=item.delivery_id,
            attempts=tried,
            error=error,
            paused_for=pause.total_seconds() if pause else None,
        )
        return True

    def _attempts(self, sub: Subscriber, item: Item) -> int:
        return sub.attempts if sub.head == item.key else 0

    def _set(self, s: Session, sub: Subscriber, **values: Any) -> bool:
        """Update the subscriber's row only while we hold its lease and it is active."""
        mine = and_(_W.id == sub.id, _W.lease_owner == self.owner, _W.active.is_(True))
        stmt = update(_W).where(mine).values(**values).execution_options(**_NO_SYNC)
        return bool(s.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]

    def _finish_row(
        self, s: Session, item: Item, *, status: str, tried: int, **values: Any
    ) -> None:
        """Record a stored delivery's end; a replay adds its attempts to the earlier ones."""
        stmt = update(_D).where(_D.id == item.row_id).execution_options(**_NO_SYNC)
        s.execute(stmt.values(status=status, attempts=_D.attempts + tried, **values))
