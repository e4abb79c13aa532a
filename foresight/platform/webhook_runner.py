"""Running the webhook dispatcher: background threads in a server, the caller's thread in
tests and CLI commands.

Memory is bounded by the number of subscribers, never by the number of events: at most one
task per subscriber is queued or running (``_busy``), and each reads one page of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial

import structlog

from foresight.platform.webhook_dispatch import Dispatcher

log = structlog.get_logger(__name__)

_COALESCE_SECONDS = 0.05


class DispatchRunner:
    """Drives a :class:`Dispatcher`: ``start``/``close`` for a background loop that polls
    every ``poll_seconds`` (and at once on :meth:`wake`), ``run_once``/``drain`` in the
    calling thread. Both can run together: a subscriber is served by one thread at a time."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        poll_seconds: float = 2.0,
        concurrency: int = 4,
    ) -> None:
        self.dispatcher, self.clock, self.sleep = dispatcher, clock, sleep
        self.poll_seconds, self.concurrency = poll_seconds, concurrency
        self._wake, self._stop = threading.Event(), threading.Event()
        self._busy: set[int] = set()  # subscribers a thread of this process is serving
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def run_once(self) -> bool:
        """One pass over the subscribers due now, in this thread; True if anything moved."""
        moved, _busy, _wake_at = self._pass(lambda: False)
        return moved

    def drain(self, timeout: float = 30.0) -> None:
        """Send in this thread until nothing is due, or the next retry or pause would end
        after ``timeout`` seconds (waiting with the injected ``sleep``)."""
        deadline = time.monotonic() + timeout

        def expired() -> bool:
            return time.monotonic() > deadline

        while not expired():
            moved, busy, wake_at = self._pass(expired)
            if moved:
                continue
            if busy:  # a background thread is sending to it: let it finish
                time.sleep(0.01)
                continue
            if wake_at is None:
                return
            delay = (wake_at - self.clock()).total_seconds()
            if delay > deadline - time.monotonic():
                return
            self._wait(delay)

    def start(self) -> None:
        """Run the loop in a background thread (sends in a small pool) until :meth:`close`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0, *, drain: bool = False) -> None:
        """Stop the loop (a send in flight finishes its one request), ``drain`` for up to
        ``timeout`` seconds if asked, and give up this owner's leases."""
        thread, pool = self._thread, self._pool
        if thread is not None and pool is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout)
            pool.shutdown(wait=True, cancel_futures=True)
            self._thread = self._pool = None
        try:
            if drain and timeout > 0:
                self.drain(timeout)
            self.dispatcher.release()
        except Exception:  # the database may be away at shutdown; leases expire anyway
            log.warning("webhook_close_failed", exc_info=True)

    def _pass(self, stop: Callable[[], bool]) -> tuple[bool, bool, datetime | None]:
        ready, wake_at = self.dispatcher.due()
        moved = busy = False
        for webhook_id in ready:
            if stop():
                break
            if not self._take(webhook_id):
                busy = True
                continue
            try:
                moved = self.dispatcher.serve(webhook_id, stop=stop) or moved
            finally:
                self._give_back(webhook_id)
        return moved, busy, wake_at

    def _loop(self) -> None:
        # The first look waits a poll (or a wake): a short CLI command does not start
        # sending the cluster's backlog unless it published something itself.
        timeout = self.poll_seconds
        while not self._stop.is_set():
            if self._wake.wait(timeout):
                # Coalesce a burst of announcements into one look: a look costs a few
                # queries, an announcement arrives every few milliseconds in a batch.
                self._stop.wait(_COALESCE_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            timeout = self.poll_seconds
            try:
                ready, wake_at = self.dispatcher.due()
            except Exception:  # e.g. the database is away: look again after a poll
                log.warning("webhook_dispatch_failed", exc_info=True)
                continue
            for webhook_id in ready:
                if self._pool is None or not self._take(webhook_id):
                    continue
                try:
                    future = self._pool.submit(self._serve_in_background, webhook_id)
                except RuntimeError:  # the pool is shutting down: close() is under way
                    self._give_back(webhook_id)
                    return
                # Given back when the task ends *or is cancelled* (close() cancels queued
                # tasks, whose own code then never runs): a subscriber left in ``_busy``
                # would never be served by this process again.
                future.add_done_callback(partial(self._given_back, webhook_id))
            if wake_at is not None:
                until = (wake_at - self.clock()).total_seconds()
                timeout = min(timeout, max(until, 0.01))

    def _serve_in_background(self, webhook_id: int) -> None:
        moved = False
        try:
            moved = self.dispatcher.serve(webhook_id, stop=self._stop.is_set)
        except Exception:
            log.warning("webhook_dispatch_failed", webhook_id=webhook_id, exc_info=True)
        if moved:
            self._wake.set()  # more may be waiting: look again now, not after a poll

    def _take(self, webhook_id: int) -> bool:
        with self._lock:
            if webhook_id in self._busy:
                return False
            self._busy.add(webhook_id)
            return True

    def _given_back(self, webhook_id: int, _future: Future[None]) -> None:
        self._give_back(webhook_id)

    def _give_back(self, webhook_id: int) -> None:
        with self._lock:
            self._busy.discard(webhook_id)

    def _wait(self, seconds: float) -> None:
        """Wait with the injected sleep; if it did not move the clock (a no-op sleep in a
        test), nap briefly instead of spinning."""
        before = self.clock()
        self.sleep(max(seconds, 0.0))
        if (self.clock() - before).total_seconds() < seconds:
            time.sleep(min(seconds, 0.05))
