"""The event log: one contract suite every backend must pass, run here on SQLite and
PostgreSQL through ``DatabaseEventLog``; a future backend subclasses ``EventLogContract``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    text,
    update,
)

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


# A caller's own table, written in the same unit as its events (``EventLog.atomic``).
PROJECTION = Table(
    "test_projection",
    MetaData(),
    Column("key", String(50), primary_key=True),
    Column("offset", BigInteger, nullable=False),
)


def offsets(events: list[Event]) -> list[int]:
    return [e.offset for e in events]


def stored(log: EventLog) -> dict[str, int]:
    """The caller's rows that committed, key -> offset."""
    with log.atomic() as unit:
        rows = unit.session.execute(select(PROJECTION.c.key, PROJECTION.c.offset))
        return {key: offset for key, offset in rows}


def publish_concurrently(log: EventLog, writers: int, write: Callable[[int], list[int]]) -> None:
    """Run ``write(w)`` (returning the offsets it published) in ``writers`` threads while a
    reader follows the log; assert the reader saw every offset, once, in order."""
    published: list[int] = []
    consumed: list[int] = []
    done = threading.Event()
    start = threading.Barrier(writers + 1)

    def publish(w: int) -> None:
        start.wait()
        published.extend(write(w))

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
    assert published
    assert consumed == sorted(published)  # every offset, once, in order, none skipped


class EventLogContract:
    """Behaviour every ``EventLog`` backend shows. Subclasses provide the ``log`` fixture,
    built on a fresh, empty store with the ``clock`` fixture as its clock."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def log(self, clock: FakeClock) -> EventLog:
        raise NotImplementedError

    @pytest.fixture
    def projection(self, log: EventLog) -> Table:
        with log.atomic() as unit:
            PROJECTION.create(unit.session.connection())
        return PROJECTION

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

    def test_purge_keeps_the_kept_types(self, log: EventLog, clock: FakeClock) -> None:
        profile = log.publish("profile.changed", "c1", {}).offset
        log.publish("t", "c1", {})
        tier = log.publish("tier.changed", "c2", {}).offset
        clock.advance(hours=1)
        kept = {"profile.changed", "tier.changed"}
        assert log.purge(clock.now, keep_types=kept) == 1
        assert offsets(log.read()) == [profile, tier]
        assert log.purge(clock.now, keep_types=kept) == 0
        assert log.purge(clock.now) == 2

    def test_purge_of_kept_types_still_waits_for_consumers(
        self, log: EventLog, clock: FakeClock
    ) -> None:
        offs = [log.publish(t, "k", {}).offset for t in ("t", "kept", "t", "t")]
        log.commit("slow", offs[2])
        assert log.purge(T0 + timedelta(days=1), keep_types=["kept"]) == 2
        assert offsets(log.read()) == [offs[1], offs[3]]

    def test_read_key_in_log_order_either_way(self, log: EventLog) -> None:
        a1 = log.publish("placed", "a", {"i": 1}).offset
        b1 = log.publish("placed", "b", {}).offset
        a2 = log.publish("paid", "a", {"i": 2}).offset
        log.publish("placed", "ab", {})
        log.publish("placed", "A", {})
        a3 = log.publish("placed", "a", {"i": 3}).offset
        events = log.read_key("a")
        assert offsets(events) == [a1, a2, a3]
        assert [(e.key, e.type, e.payload) for e in events] == [
            ("a", "placed", {"i": 1}),
            ("a", "paid", {"i": 2}),
            ("a", "placed", {"i": 3}),
        ]
        assert offsets(log.read_key("a", newest_first=True)) == [a3, a2, a1]
        assert offsets(log.read_key("b")) == [b1]
        assert log.read_key("nobody") == []
        assert log.read_key("nobody", newest_first=True) == []

    def test_read_key_since_types_and_limit(self, log: EventLog) -> None:
        offs = [log.publish("t" if i % 2 else "u", "k", {"i": i}).offset for i in range(6)]
        log.publish("t", "other", {})
        assert offsets(log.read_key("k", since=offs[2])) == offs[3:]
        assert offsets(log.read_key("k", since=offs[2], newest_first=True)) == offs[:2:-1]
        assert offsets(log.read_key("k", since=offs[-1])) == []
        assert offsets(log.read_key("k", limit=2)) == offs[:2]
        assert offsets(log.read_key("k", limit=2, newest_first=True)) == [offs[5], offs[4]]
        assert offsets(log.read_key("k", types={"t"})) == [offs[1], offs[3], offs[5]]
        assert offsets(log.read_key("k", types=["t"], newest_first=True, limit=1)) == [offs[5]]
        assert log.read_key("k", types=()) == []

    def test_iter_key_pages_past_the_read_limit(self, log: EventLog) -> None:
        items = [NewEvent("t" if i % 3 else "u", "k", {"i": i}) for i in range(25)]
        offs = [r.offset for r in log.publish_many(items)]
        log.publish("t", "other", {})
        assert offsets(list(log.iter_key("k", page=4))) == offs  # 7 pages, the last short
        assert offsets(list(log.iter_key("k", page=5))) == offs  # the last page exactly full
        assert offsets(list(log.iter_key("k", since=offs[9], page=4))) == offs[10:]
        kept = [o for i, o in enumerate(offs) if i % 3]
        assert offsets(list(log.iter_key("k", types={"t"}, page=3))) == kept
        assert list(log.iter_key("nobody")) == []

    def test_a_unit_commits_the_callers_rows_with_its_events(
        self, log: EventLog, projection: Table
    ) -> None:
        with log.atomic() as unit:
            result = unit.publish(NewEvent("customer.updated", "c1", {"tier": "gold"}))
            unit.session.execute(insert(projection).values(key="c1", offset=result.offset))
            assert result.created
            assert log.read() == []  # nothing is visible before the unit commits
        assert offsets(log.read_key("c1")) == [result.offset]
        assert stored(log) == {"c1": result.offset}

    def test_a_unit_that_raises_leaves_neither_rows_nor_events(
        self, log: EventLog, projection: Table
    ) -> None:
        with pytest.raises(LookupError, match="after the publish"), log.atomic() as unit:
            unit.session.execute(insert(projection).values(key="c1", offset=0))
            published = unit.publish(NewEvent("t", "c1", {}, idempotency_key="u-1"))
            assert published.created
            raise LookupError("after the publish")
        assert log.read() == []
        assert stored(log) == {}
        # The key went with the rolled-back event: publishing it again stores it.
        assert log.publish("t", "c1", {}, idempotency_key="u-1").created

    def test_idempotency_keys_in_a_unit(self, log: EventLog) -> None:
        before = log.publish("t", "k", {"v": 0}, idempotency_key="old")
        with log.atomic() as unit:
            new = unit.publish(NewEvent("t", "k", {"v": 1}, idempotency_key="new"))
            again = unit.publish(NewEvent("t", "k", {"v": 2}, idempotency_key="new"))
            old = unit.publish(NewEvent("t", "k", {"v": 3}, idempotency_key="old"))
            batch = unit.publish_many(
                [
                    NewEvent("t", "k", {"v": 4}, idempotency_key="new"),
                    NewEvent("t", "k", {"v": 5}, idempotency_key="other"),
                ]
            )
        assert new.created and new.offset > before.offset
        assert again == PublishResult(new.offset, created=False)
        assert old == PublishResult(before.offset, created=False)
        assert batch[0] == PublishResult(new.offset, created=False)
        assert batch[1].created and batch[1].offset > new.offset
        assert [e.payload["v"] for e in log.read()] == [0, 1, 5]

    def test_a_refused_event_leaves_the_unit_usable(self, log: EventLog) -> None:
        with log.atomic() as unit:
            with pytest.raises(InvalidInput, match="event type"):
                unit.publish_many([NewEvent("t", "k", {}), NewEvent("", "k", {})])
            kept = unit.publish(NewEvent("t", "k", {}))
        assert offsets(log.read()) == [kept.offset]

    def test_numpy_scalars_in_a_payload_are_stored_as_plain_values(self, log: EventLog) -> None:
        import numpy as np

        payload = {"p": np.float32(0.25), "n": np.int64(3), "ok": np.bool_(True)}
        log.publish("t", "k", payload)
        assert log.read()[0].payload == {"p": 0.25, "n": 3, "ok": True}
        with pytest.raises(InvalidInput, match="JSON"):
            log.publish("t", "k", {"a": np.array([1, 2])})  # an array is not a scalar

    def test_a_unit_that_ended_refuses_to_publish(self, log: EventLog) -> None:
        with log.atomic() as unit:
            pass
        with pytest.raises(RuntimeError, match="this unit has ended"):
            unit.publish(NewEvent("t", "k", {}))
        assert log.read() == []

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
            (lambda log: log.read_key("k", limit=0), "limit must be a positive integer"),
            (lambda log: log.read_key("k", limit=True), "limit must be a positive integer"),
            (lambda log: log.read_key("k", since=-1), "since must be an integer offset >= 0"),
            (lambda log: log.read_key("k", types="a"), "not one string"),
            (lambda log: log.read_key("k" * 201), "event key must be a string of at most"),
            (lambda log: log.read_key(None), "event key must be a string"),  # type: ignore[arg-type]
            (lambda log: log.purge(T0, keep_types="t"), "keep_types must be a collection"),
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
        def write(w: int) -> list[int]:
            published = []
            for i in range(60):
                if i % 2:
                    batch = [NewEvent("t", f"w{w}", {"i": i, "j": j}) for j in range(2)]
                    published.extend(r.offset for r in log.publish_many(batch))
                else:
                    published.append(log.publish("t", f"w{w}", {"i": i}).offset)
            return published

        publish_concurrently(log, 4, write)

    def test_concurrent_units_never_let_a_reader_skip(
        self, log: EventLog, projection: Table
    ) -> None:
        def write(w: int) -> list[int]:
            published = []
            for i in range(30):
                with log.atomic() as unit:
                    first = unit.publish(NewEvent("t", f"w{w}", {"i": i})).offset
                    # The caller's work between its publishes widens any gap a reader could see.
                    row = {"key": f"w{w}-{i}", "offset": first}
                    unit.session.execute(insert(projection).values(row))
                    second = unit.publish(NewEvent("t", f"w{w}", {"i": i, "j": 1})).offset
                published += [first, second]
            return published

        publish_concurrently(log, 4, write)
        assert len(stored(log)) == 4 * 30

    def test_units_that_read_then_write_lose_no_update(
        self, log: EventLog, projection: Table
    ) -> None:
        # Read a counter, check it, write it back and publish: the pattern of every state
        # change. Were the lock taken only at the first publish, two units could read the
        # same value and one increment would be lost.
        with log.atomic() as unit:
            unit.session.execute(insert(projection).values(key="counter", offset=0))
        start = threading.Barrier(4)

        def increment(_: int) -> None:
            start.wait()
            for _ in range(10):
                with log.atomic() as unit:
                    query = select(projection.c.offset).where(projection.c.key == "counter")
                    seen = unit.session.execute(query).scalar_one()
                    time.sleep(0.002)  # widen the window between the read and the write
                    unit.session.execute(
                        update(projection)
                        .where(projection.c.key == "counter")
                        .values(offset=seen + 1)
                    )
                    unit.publish(NewEvent("counter.incremented", "counter", {"to": seen + 1}))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(increment, range(4)))
        assert stored(log)["counter"] == 40
        payloads = [e.payload["to"] for e in log.read_key("counter", limit=100)]
        assert payloads == list(range(1, 41))


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
            "stream",  # 0010: a stream's records (streams.py) live here too
            "stream_partition",
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
            "ix_events_key_id",  # also answers key = ?, so key has no index of its own (0008)
            "ix_events_type",
            "ix_events_stream_partition_id",
            "ix_events_log_id",  # partial: WHERE stream IS NULL
        }
        by_name = {i["name"]: i["column_names"] for i in inspector.get_indexes("events")}
        assert by_name["ix_events_key_id"] == ["key", "id"]
        with db.engine.connect() as conn:
            versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        # Sibling migrations may follow 0002 once linearised: it must be applied, not be head.
        script = ScriptDirectory.from_config(migrate.alembic_config(db))
        applied = {r.revision for r in script.iterate_revisions(tuple(versions), "base")}
        wanted = {"0001_platform", "0002_events", "0007_events_key", "0008_events_key_only"}
        assert wanted <= applied

    def test_the_key_index_migration_goes_down_and_up(self, db: Database) -> None:
        def indexes() -> set[str]:
            return {i["name"] or "" for i in inspect(db.engine).get_indexes("events")}

        cfg = migrate.alembic_config(db)
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0006_webhook_dispatch")
        assert "ix_events_key_id" not in indexes() and "ix_events_key" in indexes()
        migrate.upgrade(db, [])
        assert "ix_events_key_id" in indexes() and "ix_events_key" not in indexes()

    def test_a_unit_holds_back_other_publishers_until_it_commits(self, pg_url: str) -> None:
        db = Database(pg_url)
        migrate.upgrade(db, [])
        log = DatabaseEventLog(db)
        published, release = threading.Event(), threading.Event()

        def first_unit() -> int:
            with log.atomic() as unit:
                offset = unit.publish(NewEvent("t", "a", {})).offset
                published.set()
                release.wait(60)
            return offset

        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(first_unit)
            try:
                assert published.wait(60)
                second = pool.submit(lambda: log.publish("t", "b", {}).offset)
                # The second publisher must wait for the lock before drawing an id: were it
                # to draw one now, it would commit before the first, past a reader.
                deadline = time.monotonic() + 30
                while not _waiting_for_an_advisory_lock(db):
                    assert time.monotonic() < deadline, "the second publisher never waited"
                    time.sleep(0.01)  # polling PostgreSQL's lock table; nothing to wait on
                assert not second.done()
                assert log.read() == []
            finally:
                release.set()
            a, b = first.result(), second.result()
        assert offsets(log.read()) == [a, b]
        assert a < b
        db.dispose()

    def test_the_same_key_is_stored_once_under_concurrent_publishers(self, db: Database) -> None:
        log = DatabaseEventLog(db)
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda _: log.publish("t", "k", {}, idempotency_key="x"), range(8))
            )
        assert sum(r.created for r in results) == 1
        assert len({r.offset for r in results}) == 1
        assert len(log.read()) == 1


def _waiting_for_an_advisory_lock(db: Database) -> bool:
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    with db.engine.connect() as conn:
        return bool(conn.scalar(text(query)))


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
