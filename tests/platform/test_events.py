"""The event log: one contract suite every backend must pass, run here on SQLite and
PostgreSQL through ``DatabaseEventLog``; a future backend subclasses ``EventLogContract``."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.events import (
    EVENT_LOG_BACKENDS,
    DatabaseEventLog,
    Event,
    EventLog,
    NewEvent,
    PublishResult,
    event_log_from_kind,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A settable clock, so recorded times (and so retention) are exact."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def offsets(events: list[Event]) -> list[int]:
    return [e.offset for e in events]


class EventLogContract:
    """Behaviour every ``EventLog`` backend shows. Subclasses provide the ``log`` fixture,
    built on a fresh, empty store with the ``clock`` fixture as its clock."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def log(self, clock: FakeClock) -> EventLog:
        raise NotImplementedError

    def test_publish_then_read_in_order(self, log: EventLog, clock: FakeClock) -> None:
        happened = T0 - timedelta(minutes=5)
        a = log.publish("order.placed", "c1", {"n": 1, "tags": ["x"], "m": {"p": 1.5}})
        b = log.publish("order.placed", "c2", {"n": 2}, occurred_at=happened)
        c = log.publish("order.cancelled", "c1", {}, idempotency_key="cancel-1")
        assert (a.created, b.created, c.created) == (True, True, True)
        assert a.offset < b.offset < c.offset

        events = log.read()
        assert offsets(events) == [a.offset, b.offset, c.offset]
        first, second, third = events
        assert (first.type, first.key, first.payload) == (
            "order.placed",
            "c1",
            {"n": 1, "tags": ["x"], "m": {"p": 1.5}},
        )
        assert (first.occurred_at, first.recorded_at) == (T0, T0)
        assert (second.occurred_at, second.recorded_at) == (happened, T0)
        assert (third.type, third.payload, third.idempotency_key) == (
            "order.cancelled",
            {},
            "cancel-1",
        )
        # A generated idempotency key is a uuid4: unique and 36 characters.
        assert len(first.idempotency_key) == 36
        assert first.idempotency_key != second.idempotency_key

    def test_read_since_and_limit(self, log: EventLog) -> None:
        offs = [log.publish("t", f"k{i}", {"i": i}).offset for i in range(5)]
        assert offsets(log.read(offs[1])) == offs[2:]
        assert offsets(log.read(offs[1], limit=2)) == offs[2:4]
        assert log.read(offs[-1]) == []
        assert [e.payload["i"] for e in log.read(limit=3)] == [0, 1, 2]

    def test_same_idempotency_key_returns_the_stored_event(self, log: EventLog) -> None:
        first = log.publish("pay", "c1", {"amount": 10}, idempotency_key="pay-1")
        again = log.publish("pay", "c1", {"amount": 99}, idempotency_key="pay-1")
        assert again == PublishResult(first.offset, created=False)
        events = log.read()
        assert offsets(events) == [first.offset]
        assert events[0].payload == {"amount": 10}

    def test_publish_many_skips_duplicates_in_the_batch_and_in_the_store(
        self, log: EventLog
    ) -> None:
        a = log.publish("t", "k", {"v": "a"}, idempotency_key="a")
        results = log.publish_many(
            [
                NewEvent("t", "k", {"v": "b"}, idempotency_key="b"),
                NewEvent("t", "k", {"v": "a2"}, idempotency_key="a"),
                NewEvent("t", "k", {"v": "c"}, idempotency_key="c"),
                NewEvent("t", "k", {"v": "b2"}, idempotency_key="b"),
            ]
        )
        b, dup_a, c, dup_b = results
        assert (b.created, dup_a, c.created, dup_b) == (
            True,
            PublishResult(a.offset, created=False),
            True,
            PublishResult(b.offset, created=False),
        )
        assert a.offset < b.offset < c.offset
        events = log.read()
        assert [e.payload["v"] for e in events] == ["a", "b", "c"]
        assert offsets(events) == [a.offset, b.offset, c.offset]
        assert log.publish_many([]) == []

    def test_publish_many_stores_nothing_when_one_item_is_bad(self, log: EventLog) -> None:
        with pytest.raises(InvalidInput, match="event type"):
            log.publish_many([NewEvent("ok", "k", {}), NewEvent("", "k", {})])
        assert log.read() == []

    def test_type_filter(self, log: EventLog) -> None:
        a = log.publish("a", "k", {}).offset
        log.publish("b", "k", {})
        c = log.publish("c", "k", {}).offset
        a2 = log.publish("a", "k", {}).offset
        assert offsets(log.read(types={"a", "c"})) == [a, c, a2]
        assert offsets(log.read(a, types=["a"])) == [a2]
        assert offsets(log.read(types=["a"], limit=1)) == [a]
        assert log.read(types=()) == []

    def test_commit_never_moves_back(self, log: EventLog, clock: FakeClock) -> None:
        assert log.committed("billing") == 0
        log.commit("billing", 5)
        log.commit("billing", 3)
        assert log.committed("billing") == 5
        log.commit("billing", 8)
        assert (log.committed("billing"), log.committed("other")) == (8, 0)

    def test_consume_commits_after_the_handler_returns(self, log: EventLog) -> None:
        offs = [log.publish("t", "k", {"i": i}).offset for i in range(3)]
        seen: list[list[int]] = []
        assert log.consume("w", lambda batch: seen.append(offsets(batch)), limit=2) == 2
        assert log.committed("w") == offs[1]
        assert log.consume("w", lambda batch: seen.append(offsets(batch))) == 1
        assert log.consume("w", lambda batch: seen.append(offsets(batch))) == 0
        assert seen == [offs[:2], offs[2:]]
        assert log.committed("w") == offs[2]

    def test_consume_is_at_least_once(self, log: EventLog) -> None:
        offs = [log.publish("t", "k", {"i": i}).offset for i in range(2)]

        def failing(batch: list[Event]) -> None:
            raise RuntimeError("handler crashed")

        with pytest.raises(RuntimeError, match="handler crashed"):
            log.consume("w", failing)
        assert log.committed("w") == 0
        redelivered: list[int] = []
        assert log.consume("w", lambda batch: redelivered.extend(offsets(batch))) == 2
        assert redelivered == offs
        assert log.committed("w") == offs[-1]

    def test_purge_deletes_old_events_only(self, log: EventLog, clock: FakeClock) -> None:
        log.publish("t", "k", {"i": 0})
        log.publish("t", "k", {"i": 1})
        clock.advance(hours=1)
        kept = log.publish("t", "k", {"i": 2}).offset
        assert log.purge(T0 + timedelta(minutes=30)) == 2
        assert offsets(log.read()) == [kept]
        assert log.purge(T0 + timedelta(minutes=30)) == 0

    def test_purge_keeps_what_a_consumer_has_not_committed(
        self, log: EventLog, clock: FakeClock
    ) -> None:
        offs = [log.publish("t", "k", {"i": i}).offset for i in range(4)]
        log.commit("fast", offs[3])
        log.commit("slow", offs[1])
        assert log.purge(T0 + timedelta(days=1)) == 2
        assert offsets(log.read()) == offs[2:]
        log.commit("slow", offs[3])
        assert log.purge(T0 + timedelta(days=1)) == 2
        assert log.read() == []

    def test_offsets_are_not_reused_after_a_purge(self, log: EventLog, clock: FakeClock) -> None:
        last = log.publish_many([NewEvent("t", "k", {}) for _ in range(3)])[-1].offset
        clock.advance(hours=1)
        assert log.purge(clock.now) == 3
        assert log.publish("t", "k", {}).offset > last

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda log: log.publish("", "k", {}), "event type must be a non-empty string"),
            (lambda log: log.publish("  ", "k", {}), "event type must be a non-empty string"),
            (lambda log: log.publish("t" * 101, "k", {}), "event type must be at most 100"),
            (lambda log: log.publish("t", "k" * 201, {}), "event key must be a string of at most"),
            (lambda log: log.publish("t", "k", {"x": math.nan}), "without NaN or Infinity"),
            (lambda log: log.publish("t", "k", {"x": math.inf}), "without NaN or Infinity"),
            (lambda log: log.publish("t", "k", {"x": {1, 2}}), "not JSON serializable"),
            (lambda log: log.publish("t", "k", [1]), "payload must be a JSON object"),  # type: ignore[arg-type]
            (
                lambda log: log.publish("t", "k", {}, occurred_at=datetime(2026, 1, 1)),
                "occurred_at must be a timezone-aware datetime",
            ),
            (
                lambda log: log.publish("t", "k", {}, idempotency_key=""),
                "idempotency key must be a non-empty string",
            ),
            (lambda log: log.commit("", 1), "consumer must be a non-empty string"),
            (lambda log: log.commit("c", -1), "offset must be an integer offset >= 0"),
            (lambda log: log.read(limit=0), "limit must be a positive integer"),
            (lambda log: log.read(types="a"), "not one string"),
            (lambda log: log.purge(datetime(2026, 1, 1)), "before must be a timezone-aware"),
        ],
    )
    def test_bad_input_is_refused_with_a_clear_message(
        self, log: EventLog, call: Any, message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=message):
            call(log)
        assert log.read() == []

    def test_concurrent_publishers_never_let_a_reader_skip(self, log: EventLog) -> None:
        writers, rounds = 4, 60
        published: list[int] = []
        consumed: list[int] = []
        done = threading.Event()
        start = threading.Barrier(writers + 1)

        def publish(w: int) -> None:
            start.wait()
            for i in range(rounds):
                if i % 2:
                    batch = [NewEvent("t", f"w{w}", {"i": i, "j": j}) for j in range(2)]
                    published.extend(r.offset for r in log.publish_many(batch))
                else:
                    published.append(log.publish("t", f"w{w}", {"i": i}).offset)

        def read() -> None:
            start.wait()
            since, deadline = 0, time.monotonic() + 120
            while time.monotonic() < deadline:
                finished = done.is_set()  # read once more after the last publish returned
                batch = log.read(since, limit=7)
                consumed.extend(offsets(batch))
                since = batch[-1].offset if batch else since
                if finished and not batch:
                    return

        with ThreadPoolExecutor(writers + 1) as pool:
            reader = pool.submit(read)
            for f in [pool.submit(publish, w) for w in range(writers)]:
                f.result()
            done.set()
            reader.result()

        assert len(published) == writers * rounds * 3 // 2
        assert consumed == sorted(published)  # every offset, once, in order, none skipped


class TestDatabaseEventLog(EventLogContract):
    @pytest.fixture
    def log(self, db: Database, clock: FakeClock) -> EventLog:
        return DatabaseEventLog(db, clock=clock)

    def test_migration_creates_the_tables(self, db: Database) -> None:
        inspector = inspect(db.engine)
        columns = {c["name"] for c in inspector.get_columns("events")}
        assert columns == {
            "id",
            "type",
            "key",
            "payload",
            "occurred_at",
            "recorded_at",
            "idempotency_key",
        }
        assert {c["name"] for c in inspector.get_columns("event_offsets")} == {
            "consumer",
            "offset",
            "updated_at",
        }
        assert [
            (u["name"], u["column_names"]) for u in inspector.get_unique_constraints("events")
        ] == [("uq_events_idempotency_key", ["idempotency_key"])]
        assert {
            i["name"] for i in inspector.get_indexes("events") if not i.get("duplicates_constraint")
        } == {
            "ix_events_key",
            "ix_events_type",
        }
        with db.engine.connect() as conn:
            versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        # Sibling migrations may follow 0002 once linearised: it must be applied, not be head.
        script = ScriptDirectory.from_config(migrate.alembic_config(db))
        applied = {r.revision for r in script.iterate_revisions(tuple(versions), "base")}
        assert {"0001_platform", "0002_events"} <= applied

    def test_the_same_key_is_stored_once_under_concurrent_publishers(self, db: Database) -> None:
        log = DatabaseEventLog(db)
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda _: log.publish("t", "k", {}, idempotency_key="x"), range(8))
            )
        assert sum(r.created for r in results) == 1
        assert len({r.offset for r in results}) == 1
        assert len(log.read()) == 1


def test_event_log_from_kind(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kind.db'}")
    migrate.upgrade(db, [])
    assert isinstance(event_log_from_kind("database", db), DatabaseEventLog)
    assert set(EVENT_LOG_BACKENDS) == {"database"}
    with pytest.raises(
        InvalidInput, match="unknown event log backend 'kafka'; choose one of database"
    ):
        event_log_from_kind("kafka", db)
    db.dispose()
