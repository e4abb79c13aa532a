"""Webhook dispatch: every subscriber reads the event log from its own offset.

The event log is the queue, so events waiting for a slow or dead receiver cost no memory
and survive restarts. For each subscriber one process at a time holds a lease (a
conditional ``UPDATE`` of its row) and sends one request at a time, at most
``rate_per_second``. A failure backs off that subscriber only; after ``max_attempts`` the
delivery is recorded ``dead`` (kept for replay) and the offset moves on; ``pause_after``
dead deliveries in a row pause the subscriber (doubling up to an hour), so a dead receiver
costs a few probes an hour while its events wait in the log.

Delivered events get no row: the committed offset is their record. A replay is a stored
row set back to ``pending``; it is sent before the subscriber's next events.

The ``EventLog`` interface has neither "where does the log end" nor "forget a consumer";
both come from the database event log's tables, which live in the same database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.events import Event, EventLog, EventRow

log = structlog.get_logger(__name__)

_W, _D = WebhookRow, WebhookDeliveryRow
_NO_SYNC = {"synchronize_session": False}
_MAX_ERROR = 500


def consumer_name(webhook_id: int) -> str:
    """The subscriber's consumer name in the event log."""
    return f"webhook:{webhook_id}"


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

    key: str  # "event:<offset>" or "delivery:<row id>": what a retry count belongs to
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


def _body(did: str, event: str, payload: Mapping[str, Any]) -> bytes:
    return json.dumps({"id": did, "event": event, "data": payload}, sort_keys=True).encode()


def _event_item(event: Event) -> Item:
    did = delivery_id(event.offset, 0)
    body = _body(did, event.type, event.payload)
    return Item(f"event:{event.offset}", did, event.type, event.payload, body, offset=event.offset)


def _row_item(row: WebhookDeliveryRow) -> Item:
    did = delivery_id(row.event_offset, row.id)
    body = _body(did, row.event, row.payload)
    return Item(f"delivery:{row.id}", did, row.event, row.payload, body, row_id=row.id)


class Dispatcher:
    """Leases, pages, back-off and bookkeeping; the Notifier owns threads and HTTP."""

    def __init__(
        self,
        db: Database,
        events: EventLog,
        *,
        send: Callable[[Subscriber, Item], Outcome],
        policy: DispatchPolicy,
        owner: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        on_result: Callable[[str], None],
    ) -> None:
        self.db, self.events, self.send, self.policy = db, events, send, policy
        self.owner, self.clock, self.sleep, self.on_result = owner, clock, sleep, on_result

    # ---- reading the log ---------------------------------------------------------------
    def log_end(self) -> int:
        """The newest offset in the event log (0 if empty)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.max(EventRow.id), 0))) or 0)

    def position(self, webhook_id: int, start_offset: int) -> int:
        """The offset after which ``webhook_id`` still has events to receive."""
        return max(self.events.committed(consumer_name(webhook_id)), start_offset)

    def waiting(self, row: WebhookRow) -> int:
        """Events (of its types) the subscriber has not received yet, replays included."""
        position = self.position(row.id, row.start_offset)
        query = select(func.count()).select_from(EventRow).where(EventRow.id > position)
        if "*" not in row.events:
            query = query.where(EventRow.type.in_(row.events))
        pending = select(func.count()).where(_D.webhook_id == row.id, _D.status == "pending")
        with self.db.session() as s:
            return int(s.scalar(query) or 0) + int(s.scalar(pending) or 0)

    # ---- who is due --------------------------------------------------------------------
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

    # ---- one lease ---------------------------------------------------------------------
    def serve(self, webhook_id: int, *, stop: Callable[[], bool] = lambda: False) -> bool:
        """Send up to one page to ``webhook_id`` if this process wins its lease; True if
        anything was sent or committed. ``stop`` is asked before each request."""
        sub = self._claim(webhook_id)
        if sub is None:
            return False
        try:
            return self._serve(sub, stop)
        finally:
            try:
                self.release(webhook_id)
            except Exception:  # the lease expires by itself; do not hide the first error
                log.warning("webhook_release_failed", webhook_id=webhook_id, exc_info=True)

    def _claim(self, webhook_id: int) -> Subscriber | None:
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

    def _serve(self, sub: Subscriber, stop: Callable[[], bool]) -> bool:
        items, caught_up_at = self._next_items(sub)
        moved = False
        for item in items:
            if stop():
                return moved
            if sub.next_attempt_at is not None:  # the rate bound between two requests
                wait = (sub.next_attempt_at - self.clock()).total_seconds()
                if wait > 0:
                    self.sleep(wait)
            outcome = self.send(sub, item)
            moved = True
            if not outcome.ok:
                self._failed(sub, item, outcome)
                return True
            if not self._delivered(sub, item, outcome):
                return True
        if caught_up_at is not None and caught_up_at > sub.position:
            # Nothing of its types up to the log's end: move past the others, so a rare-event
            # subscriber neither shows a lag nor holds back the log's retention purge (unless
            # it was removed meanwhile: its offset is gone and must stay gone).
            with self.db.session() as s:
                still = self._set(s, sub, lease_until=self.clock() + self._lease)
            if still:
                self.events.commit(consumer_name(sub.id), caught_up_at)
                moved = True
        return moved

    def _next_items(self, sub: Subscriber) -> tuple[list[Item], int | None]:
        """Replays first, else the next page of the log; plus the end it is caught up to."""
        with self.db.session() as s:
            rows = s.scalars(
                select(_D)
                .where(_D.webhook_id == sub.id, _D.status == "pending")
                .order_by(_D.id)
                .limit(self.policy.page)
            ).all()
            replays = [_row_item(r) for r in rows]
        if replays:
            return replays, None
        # The end is read before the page: every event up to it is visible by then (the
        # log never shows an offset before the lower ones), so skipping to it loses none.
        end = self.log_end()
        if end <= sub.position:
            return [], None
        page = self.events.read(sub.position, limit=self.policy.page, types=sub.types)
        items = [_event_item(e) for e in page if e.offset <= end]
        return items, (end if len(page) < self.policy.page else None)

    # ---- bookkeeping -------------------------------------------------------------------
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

    def _delivered(self, sub: Subscriber, item: Item, outcome: Outcome) -> bool:
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
                self._finish_row(
                    s,
                    item,
                    status="delivered",
                    tried=tried,
                    last_error=None,
                    response_status=outcome.status_code,
                    finished_at=now,
                )
        if not won:  # removed meanwhile, or another process took over an expired lease
            log.warning("webhook_send_stopped", webhook_id=sub.id, owner=self.owner)
            return False
        if item.offset is not None:
            self.events.commit(consumer_name(sub.id), item.offset)
            sub.position = item.offset
        sub.head, sub.attempts, sub.consecutive_dead, sub.next_attempt_at = None, 0, 0, next_at
        self.on_result("delivered")
        return True

    def _failed(self, sub: Subscriber, item: Item, outcome: Outcome) -> None:
        now, tried = self.clock(), self._attempts(sub, item) + 1
        error = (outcome.error or "failed")[:_MAX_ERROR]
        if tried < self.policy.max_attempts:
            retry_at = now + max(self.policy.backoff(tried), self.policy.interval)
            with self.db.session() as s:
                self._set(
                    s,
                    sub,
                    head=item.key,
                    attempts=tried,
                    next_attempt_at=retry_at,
                    last_error=error,
                )
            return
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
        if not won:
            return  # the next lease holder retries it
        if item.offset is not None:
            self.events.commit(consumer_name(sub.id), item.offset)
        self.on_result("dead")
        log.warning(
            "webhook_dead",
            webhook_id=sub.id,
            delivery=item.delivery_id,
            attempts=tried,
            error=error,
            paused_for=pause.total_seconds() if pause else None,
        )
