"""Buffered telemetry events: order kept, flush makes them readable, a log that is away is
retried without losing or doubling anything, overflow drops the oldest and counts them,
and close (the buffer's and the platform's) writes what is left."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

import foresight.platform.event_buffer as event_buffer_module
from foresight.platform.db.engine import Database
from foresight.platform.event_buffer import BufferedEvents
from foresight.platform.events import DatabaseEventLog, EventLog, NewEvent, PublishResult
from foresight.platform.monitoring import Metrics
from foresight.platform.runtime import Platform
from tests.conftest import make_settings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AWAY_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens there
WAIT = 10.0  # seconds a test waits for the writer thread before it fails


def event(i: int) -> NewEvent:
    return NewEvent("model.served", f"k{i}", {"i": i})


def keys(log: EventLog) -> list[str]:
    return [e.key for e in log.read(0, limit=10_000)]


class Drops:
    """An ``on_drop`` that adds up what it is told."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, count: int) -> None:
        self.total += count


class Flaky:
    """A log that delegates to ``target``; it fails the next ``fail`` calls as if the
    database were away, and records every batch it is handed."""

    def __init__(self, target: EventLog, *, fail: int = 0) -> None:
        self.target, self.fail = target, fail
        self.batches: list[list[NewEvent]] = []
        self.written = threading.Event()  # set after every successful write

    def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]:
        batch = list(items)
        self.batches.append(batch)
        if self.fail > 0:
            self.fail -= 1
            raise OperationalError("INSERT INTO events", {}, ConnectionError("refused"))
        results = self.target.publish_many(batch)
        self.written.set()
        return results


@pytest.fixture
def log(db: Database) -> DatabaseEventLog:
    return DatabaseEventLog(db)


@pytest.fixture
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A new logger for the module, so ``capture_logs`` sees it (loggers are cached on
    first use, and another test may have used it first), at every level: a CLI test in
    the same worker may have configured the terminal's warning-only filter."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    logger = structlog.get_logger("foresight.platform.event_buffer")
    monkeypatch.setattr(event_buffer_module, "log", logger)
    yield
    structlog.configure(**saved)


def buffer(log: object, **kw: object) -> BufferedEvents:
    """A buffer whose thread never writes on its own unless the test asks for it."""
    options: dict[str, object] = {"flush_seconds": 3600.0, "retry_seconds": 3600.0}
    options.update(kw)
    return BufferedEvents(log, **options)  # type: ignore[arg-type]


def test_flush_makes_the_pending_events_readable(log: DatabaseEventLog) -> None:
    events = buffer(log, clock=lambda: T0)
    for i in range(10):
        events.add(event(i))
    assert keys(log) == []  # nothing is written before a flush
    assert events.pending() == 10

    assert events.flush() == 10

    assert keys(log) == [f"k{i}" for i in range(10)]
    assert all(e.occurred_at == T0 for e in log.read(0))  # stamped when added
    assert events.pending() == 0 and events.flush() == 0
    events.close()


def test_order_is_kept_across_batches(log: DatabaseEventLog) -> None:
    flaky = Flaky(log)
    events = buffer(flaky, max_batch=3)  # a full batch wakes the thread: it writes too
    for i in range(10):
        events.add(event(i))
    events.flush()

    assert keys(log) == [f"k{i}" for i in range(10)]
    assert all(1 <= len(b) <= 3 for b in flaky.batches)
    assert [e.key for b in flaky.batches for e in b] == [f"k{i}" for i in range(10)]
    events.close()


def test_the_thread_writes_after_flush_seconds_or_at_once_when_a_batch_is_full(
    log: DatabaseEventLog,
) -> None:
    flaky = Flaky(log)
    full = buffer(flaky, max_batch=3)  # an hour between timed writes: only "full" wakes it
    full.add(event(0))
    full.add(event(1))
    assert not flaky.written.is_set()
    full.add(event(2))
    assert flaky.written.wait(WAIT)
    assert keys(log) == ["k0", "k1", "k2"]
    full.close()

    timed_log = Flaky(log)
    timed = buffer(timed_log, flush_seconds=0.01)
    timed.add(event(3))
    assert timed_log.written.wait(WAIT)
    assert keys(log)[-1] == "k3"
    timed.close()


def test_events_are_kept_while_the_log_is_away_and_written_later(
    log: DatabaseEventLog, fresh_log: None
) -> None:
    flaky = Flaky(log, fail=3)
    drops = Drops()
    events = buffer(flaky, on_drop=drops)
    for i in range(5):
        events.add(event(i))

    with capture_logs() as logs:
        assert events.flush() == 0
        assert events.flush() == 0
        assert events.pending() == 5  # kept, still in order
        assert events.flush() == 0
        assert events.flush() == 5

    assert keys(log) == [f"k{i}" for i in range(5)]
    assert drops.total == 0
    away = [e for e in logs if e["event"] == "event_buffer_log_away"]
    assert len(away) == 1 and away[0]["log_level"] == "warning"  # once per outage
    assert [e["event"] for e in logs].count("event_buffer_log_back") == 1
    events.close()


def test_the_thread_retries_every_retry_seconds_until_the_log_is_back(
    log: DatabaseEventLog,
) -> None:
    flaky = Flaky(log, fail=4)
    events = buffer(flaky, flush_seconds=0.01, retry_seconds=0.01)
    for i in range(3):
        events.add(event(i))
    assert flaky.written.wait(WAIT)
    assert keys(log) == ["k0", "k1", "k2"]
    assert len(flaky.batches) == 5  # four failed tries, then the write
    events.close()


def test_a_retried_batch_whose_commit_went_through_is_not_stored_twice(
    log: DatabaseEventLog,
) -> None:
    class LostAnswer(Flaky):
        """Commits the first batch, then fails as if the connection dropped before the
        answer came back."""

        def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]:
            batch = list(items)
            results = self.target.publish_many(batch)
            if not self.batches:
                self.batches.append(batch)
                raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))
            return results

    events = buffer(LostAnswer(log))
    for i in range(3):
        events.add(event(i))
    assert events.flush() == 0
    events.flush()
    assert keys(log) == ["k0", "k1", "k2"]
    events.close()


def test_a_database_that_cannot_be_reached_counts_as_away(
    log: DatabaseEventLog, tmp_path: Path
) -> None:
    away = Database(AWAY_URL)
    switch = Flaky(DatabaseEventLog(away))
    drops = Drops()
    events = buffer(switch, on_drop=drops)
    events.add(event(0))
    events.add(event(1))
    assert events.flush() == 0
    assert events.pending() == 2 and drops.total == 0

    switch.target = log  # the database is back
    assert events.flush() == 2
    assert keys(log) == ["k0", "k1"]
    events.close()
    away.dispose()


def test_an_event_the_log_refuses_is_dropped_and_the_others_written(
    log: DatabaseEventLog,
) -> None:
    drops = Drops()
    events = buffer(log, on_drop=drops)
    for i in range(5):
        events.add(event(i) if i != 3 else NewEvent("model.served", "bad", {"x": math.nan}))

    assert events.flush() == 4

    assert keys(log) == ["k0", "k1", "k2", "k4"]
    assert drops.total == 1 and events.pending() == 0
    events.close()


def test_past_max_pending_the_oldest_are_dropped_and_counted(log: DatabaseEventLog) -> None:
    flaky = Flaky(log, fail=1)
    drops = Drops()
    events = buffer(flaky, max_pending=5, on_drop=drops)
    for i in range(8):
        events.add(event(i))
    assert drops.total == 3 and events.pending() == 5

    assert events.flush() == 0  # away: kept
    assert events.flush() == 5

    assert keys(log) == ["k3", "k4", "k5", "k6", "k7"]
    events.close()


def test_a_failed_batch_put_back_past_max_pending_drops_the_oldest(
    log: DatabaseEventLog,
) -> None:
    entered, release = threading.Event(), threading.Event()

    class Blocking(Flaky):
        def publish_many(self, items: Iterable[NewEvent]) -> list[PublishResult]:
            if self.fail > 0:
                entered.set()
                release.wait(WAIT)
            return super().publish_many(items)

    drops = Drops()
    events = buffer(Blocking(log, fail=1), max_pending=5, on_drop=drops)
    for i in range(5):
        events.add(event(i))
    flushing = threading.Thread(target=events.flush)
    flushing.start()
    assert entered.wait(WAIT)  # k0..k4 are being written
    for i in range(5, 8):
        events.add(event(i))  # room in the queue: nothing dropped yet
    assert drops.total == 0
    release.set()  # the write fails; k0..k4 go back in front of k5..k7
    flushing.join(WAIT)

    assert drops.total == 3
    assert events.flush() == 5
    assert keys(log) == ["k3", "k4", "k5", "k6", "k7"]
    events.close()


def test_drops_show_in_the_metrics() -> None:
    metrics = Metrics()
    away = Database(AWAY_URL)
    events = buffer(DatabaseEventLog(away), max_pending=2, on_drop=metrics.events_dropped.inc)
    for i in range(5):
        events.add(event(i))
    assert "foresight_events_dropped_total 3.0" in metrics.render().decode()
    events.close()  # the two still pending cannot be written: dropped too
    assert "foresight_events_dropped_total 5.0" in metrics.render().decode()
    away.dispose()


def test_close_writes_what_is_pending_and_later_adds_are_dropped(
    log: DatabaseEventLog,
) -> None:
    drops = Drops()
    events = buffer(log, on_drop=drops)
    events.add(event(0))
    events.add(event(1))

    events.close()

    assert keys(log) == ["k0", "k1"]
    events.close()  # idempotent
    events.add(event(2))  # never a synchronous write on the hot path: dropped, counted
    assert drops.total == 1 and events.pending() == 0
    assert keys(log) == ["k0", "k1"]


def test_close_gives_up_at_its_timeout_when_a_write_hangs(log: DatabaseEventLog) -> None:
    class Hung:
        """A log whose writes block until released (a database that stopped answering)."""

        def __init__(self) -> None:
            self.entered, self.release = threading.Event(), threading.Event()

        def publish_many(self, items: object) -> object:
            self.entered.set()
            self.release.wait(30)
            return log.publish_many(items)  # type: ignore[arg-type]

    hung, drops = Hung(), Drops()
    events = buffer(hung, on_drop=drops)
    events.add(event(0))
    flusher = threading.Thread(target=events.flush)
    flusher.start()
    assert hung.entered.wait(10)
    events.add(event(1))
    started = time.monotonic()
    events.close(timeout=0.3)  # must not wait for the hung write
    assert time.monotonic() - started < 5
    assert drops.total == 1  # the event still queued is counted as lost
    hung.release.set()
    flusher.join(10)
    assert keys(log) == ["k0"]


def test_platform_close_writes_the_buffered_events(tmp_path: Path) -> None:
    platform = Platform.create(make_settings(tmp_path))
    url = platform.settings.resolved_database_url
    # A buffer whose thread would not write for an hour: only close() can write it.
    platform.event_buffer = buffer(platform.events)
    platform.event_buffer.add(event(0))

    platform.close()

    database = Database(url)
    assert keys(DatabaseEventLog(database)) == ["k0"]
    database.dispose()


def test_platform_drops_are_counted_in_its_metrics(platform: Platform) -> None:
    platform.event_buffer.close()
    platform.event_buffer.add(event(0))
    assert "foresight_events_dropped_total 1.0" in platform.metrics.render().decode()
