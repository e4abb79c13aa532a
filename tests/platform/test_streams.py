"""Streams: the contract every backend passes, run here on the database backend (SQLite
and PostgreSQL); the Redis backend joins the suite with its own fixture."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.events import DatabaseEventLog, NewEvent
from foresight.platform.stream_db import DatabaseStream
from foresight.platform.stream_redis import RedisStream
from foresight.platform.streams import (
    START,
    Entry,
    Record,
    Stream,
    partition_of,
    stream_from_kind,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REDIS_URL = "redis://127.0.0.1:6379/0"


def rec(key: str, n: int, *, ikey: str | None = None) -> Record:
    return Record("tick", key, {"n": n}, T0 + timedelta(seconds=n), ikey or f"{key}:{n}")


def payloads(entries: list[Entry]) -> list[int]:
    return [r.payload["n"] for e in entries for r in e.records]


def everything(stream: Stream) -> list[Entry]:
    return stream.read("g", "c", dict.fromkeys(range(stream.partitions), START), limit=10_000)


def test_partition_of_is_fixed_across_processes() -> None:
    # Fixed vectors: a stream written by one release is read by the next.
    assert [partition_of(k, 8) for k in ("sg-central", "a", "", "région-é")] == [2, 3, 0, 6]
    assert partition_of("sg-central", 1) == 0
    with pytest.raises(InvalidInput, match="positive integer"):
        partition_of("a", 0)


class StreamContract:
    """Behaviour every ``Stream`` backend shows; subclasses provide ``stream`` (4 partitions,
    empty) and ``other`` (a second stream on the same store)."""

    def test_a_duplicate_is_stored_once_within_and_across_appends(self, stream: Stream) -> None:
        first = stream.append([rec("a", 1), rec("a", 2), rec("a", 1)])
        again = stream.append([rec("a", 2), rec("b", 3)])
        assert first == [True, True, False] and again == [False, True]
        assert sorted(payloads(everything(stream))) == [1, 2, 3]

    def test_a_key_keeps_its_order_in_its_own_partition(self, stream: Stream) -> None:
        for n in range(20):
            stream.append([rec(f"k{n % 3}", n)])
        entries = everything(stream)
        for key in ("k0", "k1", "k2"):
            mine = [e for e in entries if e.records[0].key == key]
            assert {e.partition for e in mine} == {partition_of(key, stream.partitions)}
            assert [e.records[0].payload["n"] for e in mine] == list(range(int(key[1]), 20, 3))
            positions = [e.position for e in mine]
            assert positions == sorted(positions) and len(set(positions)) == len(positions)

    def test_read_starts_after_a_position_and_respects_the_limit(self, stream: Stream) -> None:
        for n in range(10):  # one append each: a backend may pack one append in one entry
            stream.append([rec("a", n)])
        part = partition_of("a", stream.partitions)
        first = stream.read("g", "c", {part: START}, limit=4)
        assert payloads(first) == [0, 1, 2, 3]
        rest = stream.read("g", "c", {part: first[-1].position}, limit=100)
        assert payloads(rest) == list(range(4, 10))
        assert stream.end(part) == rest[-1].position
        assert stream.lag("g", {part: first[-1].position}) == {part: 6}
        other = (part + 1) % stream.partitions
        assert stream.read("g", "c", {other: START}) == [] and stream.end(other) == START

    def test_a_blocked_read_wakes_when_a_record_arrives(self, stream: Stream) -> None:
        part = partition_of("a", stream.partitions)
        timer = threading.Timer(0.2, lambda: stream.append([rec("a", 1)]))
        started = time.monotonic()
        timer.start()
        got = stream.read("g", "c", {part: START}, block_ms=5000)
        timer.join()
        assert payloads(got) == [1] and time.monotonic() - started < 4
        started = time.monotonic()
        assert stream.read("g", "c", {part: got[-1].position}, block_ms=150) == []
        assert time.monotonic() - started >= 0.14

    def test_trim_deletes_only_up_to_the_position(self, stream: Stream) -> None:
        for n in range(5):
            stream.append([rec("a", n)])
        part = partition_of("a", stream.partitions)
        entries = stream.read("g", "c", {part: START})
        assert stream.trim(part, entries[2].position) == 3
        assert payloads(stream.read("g", "c", {part: START})) == [3, 4]

    def test_work_that_was_not_committed_comes_again(self, stream: Stream) -> None:
        part = partition_of("a", stream.partitions)
        stream.append([rec("a", n) for n in range(3)])  # one call: maybe one packed entry
        first = stream.read("g", "c1", {part: START})
        assert payloads(first) == [0, 1, 2]
        # c1 did not commit: the same consumer is given the same records again …
        assert payloads(stream.read("g", "c1", {part: START})) == [0, 1, 2]
        # … and a consumer taking the partition over (c1 died) gets them too.
        stream.reclaim("g", "c2", part)
        again = stream.read("g", "c2", {part: START})
        assert payloads(again) == [0, 1, 2]
        stream.ack("g", part, again[-1].position)  # committed up to there
        stream.append([rec("a", 3)])
        assert payloads(stream.read("g", "c2", {part: again[-1].position})) == [3]

    def test_a_packed_append_of_many_keys_reads_back_whole(self, stream: Stream) -> None:
        stream.append([rec(f"k{n % 5}", n) for n in range(200)])
        got = sorted(payloads(everything(stream)))
        assert got == list(range(200))
        for e in everything(stream):
            assert {partition_of(r.key, stream.partitions) for r in e.records} == {e.partition}

    def test_the_position_before_a_time_splits_old_from_new(self, stream: Stream) -> None:
        part = partition_of("a", stream.partitions)
        assert stream.position_before(part, datetime.now(UTC)) == START
        stream.append([rec("a", 1)])
        stream.append([rec("a", 2)])
        time.sleep(0.02)
        cut = datetime.now(UTC)
        time.sleep(0.02)
        stream.append([rec("a", 3)])
        entries = stream.read("g", "c", {part: START})
        assert stream.position_before(part, cut) == entries[1].position
        assert stream.trim(part, stream.position_before(part, cut)) == 2
        assert payloads(stream.read("g", "c", {part: START})) == [3]

    def test_streams_on_one_store_do_not_mix(self, stream: Stream, other: Stream) -> None:
        stream.append([rec("a", 1)])
        # The same idempotency key on another stream is another record.
        assert other.append([rec("a", 2, ikey="a:1")]) == [True]
        assert payloads(everything(stream)) == [1] and payloads(everything(other)) == [2]
        assert [r.idempotency_key for e in everything(other) for r in e.records] == ["a:1"]

    def test_a_backlog_in_one_partition_does_not_starve_the_others(self, stream: Stream) -> None:
        busy = next(k for k in (f"k{n}" for n in range(50)) if partition_of(k, 4) == 0)
        quiet = next(k for k in (f"k{n}" for n in range(50)) if partition_of(k, 4) == 1)
        for n in range(40):
            stream.append([rec(busy, n)])
        stream.append([rec(quiet, 99)])
        got = stream.read("g", "c", dict.fromkeys(range(4), START), limit=10)
        assert 99 in payloads(got) and len(payloads(got)) <= 10

    def test_bad_partitions_and_positions_are_refused(self, stream: Stream) -> None:
        with pytest.raises(InvalidInput, match="partition 9"):
            stream.read("g", "c", {9: START})
        with pytest.raises(InvalidInput, match="two integers"):
            stream.read("g", "c", {0: (1,)})  # type: ignore[dict-item]
        with pytest.raises(InvalidInput, match="limit"):
            stream.read("g", "c", {0: START}, limit=0)


class TestRedisStream(StreamContract):
    @pytest.fixture
    def client(self, redis_client: redis.Redis) -> redis.Redis:
        return redis_client

    @pytest.fixture
    def stream(self, client: redis.Redis, redis_prefix: str) -> Stream:
        return RedisStream(client, "ticks", 4, prefix=redis_prefix)

    @pytest.fixture
    def other(self, client: redis.Redis, redis_prefix: str) -> Stream:
        return RedisStream(client, "other", 4, prefix=redis_prefix)

    def test_one_append_writes_one_entry_per_partition(
        self, client: redis.Redis, redis_prefix: str
    ) -> None:
        stream = RedisStream(client, "ticks", 4, prefix=redis_prefix)
        stream.append([rec(f"k{n % 7}", n) for n in range(1000)])
        lengths = [client.xlen(f"{redis_prefix}stream:ticks:{p}") for p in range(4)]
        keys = {partition_of(f"k{n}", 4) for n in range(7)}
        assert sum(lengths) == len(keys)  # 1,000 records, one write per partition touched

    def test_durable_reports_the_servers_fsync_policy(
        self, client: redis.Redis, redis_prefix: str
    ) -> None:
        stream = RedisStream(client, "ticks", 4, prefix=redis_prefix)
        config = client.config_get("append*")
        fsync_always = config.get("appendonly") == "yes" and config.get("appendfsync") == "always"
        assert stream.durable is fsync_always


class TestDatabaseStream(StreamContract):
    @pytest.fixture
    def stream(self, db: Database) -> Stream:
        return DatabaseStream(db, "ticks", 4)

    @pytest.fixture
    def other(self, db: Database) -> Stream:
        return DatabaseStream(db, "other", 4)

    def test_a_log_event_and_a_record_may_share_an_idempotency_key(self, db: Database) -> None:
        DatabaseEventLog(db).publish("own", "a", {}, idempotency_key="a:1")
        assert DatabaseStream(db, "ticks", 4).append([rec("a", 1)]) == [True]

    def test_the_log_readers_pass_over_stream_records(self, db: Database) -> None:
        # A "*" webhook subscriber reads the whole log: a stream's thousands of records a
        # second must not reach it, nor retention, nor a key's rebuild.
        log = DatabaseEventLog(db)
        own = log.publish("own", "a", {})
        DatabaseStream(db, "ticks", 4).append([rec("a", 1)])
        assert [e.offset for e in log.read()] == [own.offset]
        assert [e.offset for e in log.read_key("a")] == [own.offset]
        assert log.purge(datetime.now(UTC) + timedelta(days=1)) == 1
        assert payloads(everything(DatabaseStream(db, "ticks", 4))) == [1]

    def test_a_partition_without_a_stream_is_refused(self, db: Database) -> None:
        with pytest.raises(InvalidInput, match="give the stream too"):
            DatabaseEventLog(db).publish_many([NewEvent("t", "k", {}, partition=1)])
        with pytest.raises(InvalidInput, match="1 to 1024 partitions"):
            DatabaseStream(db, "s", 0)

    def test_the_backend_is_chosen_by_name(self, db: Database) -> None:
        built = stream_from_kind("database", db=db, name="s", partitions=2)
        assert isinstance(built, DatabaseStream)
        with pytest.raises(InvalidInput, match="unknown stream backend 'kafka'; choose one of"):
            stream_from_kind("kafka", db=db, name="s", partitions=2)
