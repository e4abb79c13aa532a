"""Webhook dispatch: every subscriber reads the event log from its own offset.

The event log is the queue, so events waiting for a slow or dead receiver cost no memory
and survive restarts. For each subscriber one process at a time holds a lease (see
:mod:`foresight.platform.webhook_leases`) and sends one request at a time, at most
``rate_per_second``. A failure backs off that subscriber only; after ``max_attempts`` the
delivery is recorded ``dead`` (kept for replay) and the offset moves on; ``pause_after``
dead deliveries in a row pause the subscriber (doubling up to an hour), so a dead receiver
costs a few probes an hour while its events wait in the log.

Delivered events get no row: the committed offset is their record. A replay is a stored
row set back to ``pending``; it is sent before the subscriber's next events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.events import Event, EventLog
from foresight.platform.webhook_leases import (
    DispatchPolicy,
    Item,
    Leases,
    Outcome,
    Subscriber,
    delivery_id,
)

log = structlog.get_logger(__name__)

_D = WebhookDeliveryRow


def _body(did: str, event: str, payload: Mapping[str, Any]) -> bytes:
    return json.dumps({"id": did, "event": event, "data": payload}, sort_keys=True).encode()


def _event_item(event: Event) -> Item:
    did = delivery_id(event.offset, 0)
    body = _body(did, event.type, event.payload)
    return Item(f"event:{event.offset}", did, event.type, event.payload, body, offset=event.offset)


def _row_item(row: WebhookDeliveryRow) -> Item:
    did = delivery_id(row.event_offset, row.id)
    body = _body(did, row.event, row.payload)
    return Item(f"row:{row.id}", did, row.event, row.payload, body, row_id=row.id)


class Dispatcher:
    """Sends pages of items under a lease; :class:`Leases` keeps the records and the
    Notifier owns threads and HTTP."""

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
        self.leases = Leases(db, events, policy=policy, owner=owner, clock=clock)

    def log_end(self) -> int:
        """The newest offset in the event log (0 if empty)."""
        return self.leases.log_end()

    def waiting(self, row: WebhookRow) -> int:
        """Events (of its types) the subscriber has not received yet, replays included."""
        return self.leases.waiting(row)

    def due(self) -> tuple[list[int], datetime | None]:
        """Subscribers with something to send now, and when the next blocked one frees up."""
        return self.leases.due()

    def release(self, webhook_id: int | None = None) -> None:
        """Give up this owner's lease on ``webhook_id`` (None: every lease it holds)."""
        self.leases.release(webhook_id)

    def serve(self, webhook_id: int, *, stop: Callable[[], bool] = lambda: False) -> bool:
        """Send up to one page to ``webhook_id`` if this process wins its lease; True if
        anything was sent or committed. ``stop`` is asked before each request."""
        sub = self.leases.claim(webhook_id)
        if sub is None:
            return False
        try:
            return self._serve(sub, stop)
        finally:
            try:
                self.release(webhook_id)
            except Exception:  # the lease expires by itself; do not hide the first error
                log.warning("webhook_release_failed", webhook_id=webhook_id, exc_info=True)

    def _serve(self, sub: Subscriber, stop: Callable[[], bool]) -> bool:
        items, caught_up_at = self._next_items(sub)
        moved = False
        for item in items:
            if stop():
                return moved
            if sub.next_attempt_at is not None:  # the rate bound between two requests
                wait = (sub.next_attempt_at - self.clock()).total_seconds()
                if wait > self.policy.nap_seconds:
                    return moved  # a long wait outside the lease: due() brings it back
                if wait > 0:
                    self.sleep(wait)
            outcome = self.send(sub, item)
            moved = True
            if not outcome.ok:
                if self.leases.failed(sub, item, outcome):
                    self.on_result("dead")
                return True
            if not self.leases.delivered(sub, item, outcome):
                return True
            self.on_result("delivered")
        if caught_up_at is not None and caught_up_at > sub.position:
            # Nothing of its types up to the log's end: move past the others, so a rare-event
            # subscriber neither shows a lag nor holds back the log's retention purge.
            moved = self.leases.caught_up(sub, caught_up_at) or moved
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
