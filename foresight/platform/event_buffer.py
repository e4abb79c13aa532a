"""Buffered telemetry events: recorded off the request thread, written in batches.

A request that records an event (one per prediction, say) only appends it to a queue in
memory; a daemon thread publishes the queue every ``flush_seconds``, or at once when
``max_batch`` events wait. Order is kept: one writer at a time takes events from the
front of the queue, and a batch that could not be written goes back to the front.

Only telemetry belongs here: events live in memory until written, so a crash loses what
is pending. State changes commit with their rows (``EventLog.atomic``).

While the database is away events are kept and retried every ``retry_seconds``. Past
``max_pending`` the *oldest* are dropped, for two reasons: the newest events describe the
service as it is now, which is what monitoring reads; and an event the log can never take
for a reason not recognised as a refusal sits at the front of the queue, so dropping the
oldest is what eventually unblocks the ones behind it. Events the log refuses
(:class:`~foresight.platform.errors.InvalidInput`, a constraint) are found by bisecting the
batch and dropped one by one; the others are written. Every drop is counted through
``on_drop``.

An event gets its ``occurred_at`` when it is added (not when it is written, which may be
much later) and an idempotency key before its first write, so a batch whose commit
succeeded but whose answer was lost is not stored twice when it is retried.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.exc import StatementError

from foresight.platform.db.base import utcnow
from foresight.platform.db.buffered import database_away
from foresight.platform.errors import InvalidInput
from foresight.platform.events import EventLog, NewEvent

__all__ = ["BufferedEvents"]

log = structlog.get_logger(__name__)


class _Away(Exception):
    """The log could not be reached. The first ``handled`` events of the batch were dealt
    with before that (``written`` of them stored, the rest refused)."""

    def __init__(self, handled: int, written: int) -> None:
        super().__init__(f"{handled} events handled before the log went away")
        self.handled, self.written = handled, written


def _refused(exc: BaseException) -> bool:
    """True when the log refused what was sent (retrying would fail the same way), rather
    than could not be reached; anything unrecognised counts as unreachable: kept, retried."""
    if isinstance(exc, InvalidInput):
        return True
    return isinstance(exc, StatementError) and not database_away(exc)


class BufferedEvents:
    """Collects events for ``log`` and publishes them in batches on a background thread.

    ``add`` never waits on the database and never raises for its trouble; ``flush`` writes
    what is pending now (a reader that must see its own writes calls it first); ``close``
    stops the thread and writes what is left. One per process: the thread starts on the
    first ``add``, in the process that adds.

    >>> from foresight.platform.events import NewEvent
    >>> class Log:
    ...     def publish_many(self, items): self.stored = list(items); return []
    >>> events = BufferedEvents(Log())
    >>> events.add(NewEvent("model.served", "m1", {"ms": 1.5}))
    >>> events.flush(), events.pending()
    (1, 0)
    >>> events.close()
    """

    def __init__(
        self,
        log: EventLog,
        *,
        flush_seconds: float = 0.25,
        max_batch: int = 500,
        max_pending: int = 100_000,
        on_drop: Callable[[int], None] | None = None,
        retry_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be at least 1")
        self.log, self.clock = log, clock
        self.flush_seconds, self.retry_seconds = flush_seconds, retry_seconds
        self.max_batch, self.max_pending = max_batch, max_pending
        self._on_drop = on_drop
        self._queue: deque[NewEvent] = deque()
        self._lock = threading.Lock()  # guards the queue and the flags; held briefly
        self._flush_lock = threading.Lock()  # one writer at a time keeps the order
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._away_since: float | None = None  # monotonic start of the current outage
        self._dropping = False  # a drop was logged since the queue was last emptied

    def add(self, event: NewEvent) -> None:
        """Queue ``event`` for the next write (O(1)); past ``max_pending`` the oldest
        pending event is dropped. After :meth:`close` the event is dropped and counted:
        the hot path never falls back to a synchronous write."""
        if event.occurred_at is None:
            event = NewEvent(
                event.type, event.key, event.payload, self.clock(), event.idempotency_key
            )
        dropped, full, reason = 0, False, "closed"
        with self._lock:
            if self._closed:
                dropped = 1
            else:
                reason = "full"
                if len(self._queue) >= self.max_pending:
                    self._queue.popleft()
                    dropped = 1
                self._queue.append(event)
                full = len(self._queue) >= self.max_batch
                if self._thread is None:
                    self._start()
        if dropped:
            self._drop(dropped, reason)
        elif full and not self._wake.is_set():
            self._wake.set()

    def pending(self) -> int:
        """How many events wait in the queue (a batch being written is not among them;
        one that fails goes back, so memory holds at most ``max_pending + max_batch``)."""
        with self._lock:
            return len(self._queue)

    def flush(self, *, wait: float | None = None) -> int:
        """Write the events pending now, oldest first, in batches of ``max_batch``; returns
        how many were written. If the log is away, what is left stays queued for the next
        try (this call does not raise for it). Safe to call from any thread. ``wait``
        bounds the wait for a flush already in progress elsewhere (then 0 is returned)."""
        if not self._flush_lock.acquire(timeout=-1 if wait is None else wait):
            return 0
        try:
            return self._flush_locked()
        finally:
            self._flush_lock.release()

    def _flush_locked(self) -> int:
        with self._lock:
            todo = len(self._queue)
        written, reached = 0, False
        while todo > 0:
            with self._lock:
                size = min(todo, self.max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(size)]
            if not batch:
                break  # the oldest were dropped meanwhile
            todo -= len(batch)
            batch = [_keyed(e) for e in batch]
            try:
                written += self._write(batch)
            except _Away as away:
                self._put_back(batch[away.handled :])
                self._went_away(away.__cause__)
                return written + away.written
            reached = True
        if reached:
            self._came_back(written)
        return written

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (waiting up to ``timeout`` seconds for a write in flight), write
        what is pending, and drop (and count) what the log could not take. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        self._wake.set()
        started = time.monotonic()
        if thread is not None:
            thread.join(timeout)
        try:
            # A write hung in the thread holds the flush lock: give up at the timeout
            # rather than hang the shutdown (what is left is counted as lost below).
            self.flush(wait=max(0.0, timeout - (time.monotonic() - started)))
        except Exception:  # a surprise must not stop the rest of a shutdown
            log.exception("event_buffer_flush_failed")
        with self._lock:
            lost = len(self._queue)
            self._queue.clear()
        if lost:
            log.error("event_buffer_lost_at_close", events=lost)
            self._drop(lost, "closed")

    # ---- writing ---------------------------------------------------------------------
    def _write(self, batch: list[NewEvent]) -> int:
        """Publish ``batch`` in order, bisecting around events the log refuses (dropped);
        returns how many were written. Raises :class:`_Away` (with how many of the batch
        were handled, written or refused) when the log cannot be reached."""
        todo, handled, written = [batch], 0, 0
        while todo:
            part = todo.pop()
            try:
                self.log.publish_many(part)
            except Exception as exc:
                if not _refused(exc):
                    raise _Away(handled, written) from exc
                if len(part) == 1:
                    self._refuse(part[0], exc)
                    handled += 1
                else:  # the left half first: order is kept
                    todo += [part[len(part) // 2 :], part[: len(part) // 2]]
                continue
            handled += len(part)
            written += len(part)
        return written

    def _refuse(self, event: NewEvent, exc: Exception) -> None:
        error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        log.error(
            "event_buffer_refused",
            type=str(event.type)[:100],
            key=str(event.key)[:200],
            error=error,
        )
        self._drop(1, "refused")

    def _put_back(self, batch: list[NewEvent]) -> None:
        """Return unwritten events to the front of the queue, dropping the oldest past
        ``max_pending`` (which are these, the oldest there are)."""
        with self._lock:
            self._queue.extendleft(reversed(batch))
            excess = len(self._queue) - self.max_pending
            for _ in range(max(excess, 0)):
                self._queue.popleft()
        if excess > 0:
            self._drop(excess, "full")

    # ---- bookkeeping -----------------------------------------------------------------
    def _drop(self, count: int, reason: str) -> None:
        if not self._dropping:
            self._dropping = True  # once until the queue empties: not per event
            log.warning("event_buffer_dropping", reason=reason, max_pending=self.max_pending)
        if self._on_drop is not None:
            try:
                self._on_drop(count)
            except Exception:  # a metrics hook must not break a request
                log.exception("event_buffer_on_drop_failed")

    def _went_away(self, error: BaseException | None) -> None:
        if self._away_since is None:  # once per outage, not per try
            self._away_since = time.monotonic()
            log.warning("event_buffer_log_away", pending=self.pending(), error=str(error)[:300])

    def _came_back(self, written: int) -> None:
        if self._away_since is not None:
            seconds = round(time.monotonic() - self._away_since, 1)
            self._away_since = None
            log.info("event_buffer_log_back", written=written, away_seconds=seconds)
        if self._dropping and self.pending() == 0:
            self._dropping = False

    # ---- the thread ------------------------------------------------------------------
    def _start(self) -> None:
        """Start the writer thread (called under ``_lock``, once)."""
        self._thread = threading.Thread(target=self._loop, name="event-buffer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._away_since is None:
                self._wake.wait(self.flush_seconds)
            else:  # a full queue must not hurry the retries of an outage
                self._stop.wait(self.retry_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return  # close() writes what is left
            try:
                self.flush()
            except Exception:
                # The thread must outlive any surprise: events keep coming, and with no
                # writer they would only ever be dropped.
                log.exception("event_buffer_flush_failed")
                self._stop.wait(self.retry_seconds)


def _keyed(event: NewEvent) -> NewEvent:
    """``event`` with an idempotency key, given before its first write so a retry of a
    batch whose commit went through (but whose answer was lost) stores nothing twice."""
    if event.idempotency_key is not None:
        return event
    return NewEvent(event.type, event.key, event.payload, event.occurred_at, str(uuid.uuid4()))
