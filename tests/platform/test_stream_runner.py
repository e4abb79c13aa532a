"""The consumer runner: state derived from a stream is exactly once, whatever fails
(a raising handler, a stalled owner, a second process), on both stream backends; the API
runs the apps' consumers and /health shows them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from foresight.api.app import create_app
from foresight.platform.apps import ConsumerSpec
from foresight.platform.runtime import Platform
from foresight.platform.stream_runner import ConsumerRunner
from foresight.platform.streams import Entry, Record
from tests.conftest import REDIS_URL, make_settings
from tests.example_app import TABLES_STREAM
from tests.example_app.store import TipsStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNTS = Table(
    "test_stream_counts",
    MetaData(),
    Column("key", String(20), primary_key=True),
    Column("n", Integer, nullable=False),
)


@pytest.fixture(params=["database", "redis"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    extra: dict[str, object] = {}
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        extra = {"redis_url": REDIS_URL, "redis_prefix": prefix, "stream_backend": "redis"}
    p = Platform.create(make_settings(tmp_path, **extra))
    with p.db.engine.begin() as conn:
        COUNTS.create(conn)
    yield p
    p.close()


class Counter:
    """A handler counting records per key; ``fail_on`` makes chosen calls raise."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.calls, self.fail_on = 0, fail_on or set()

    def __call__(
        self, platform: Platform, session: Session, part: int, entries: list[Entry]
    ) -> None:
        self.calls += 1
        for e in entries:
            for r in e.records:
                stmt = insert(COUNTS).values(key=r.key, n=1)
                session.execute(
                    stmt.on_conflict_do_update(index_elements=["key"], set_={"n": COUNTS.c.n + 1})
                )
        if self.calls in self.fail_on:
            raise RuntimeError("the handler failed after writing: nothing may commit")
        return None


def spec(handler: Counter, partitions: int = 4) -> ConsumerSpec:
    return ConsumerSpec("count", "test.ticks", partitions, handler, batch=7, block_ms=0)


def runner(platform: Platform, handler: Counter, owner: str, **kw: float) -> ConsumerRunner:
    tips = platform.app("tips")
    return ConsumerRunner(platform, tips, spec(handler), owner=owner, sleep=lambda s: False, **kw)


def append(platform: Platform, n: int, start: int = 0) -> dict[str, int]:
    truth: dict[str, int] = {}
    records = []
    for i in range(start, start + n):
        key = f"k{i % 9}"
        truth[key] = truth.get(key, 0) + 1
        records.append(Record("tick", key, {"i": i}, T0 + timedelta(seconds=i), f"t{i}"))
    stream = platform.stream("test.ticks", 4)
    for i in range(0, len(records), 10):  # several appends: several entries on Redis too
        stream.append(records[i : i + 10])
    return truth


def counts(platform: Platform) -> dict[str, int]:
    with platform.db.session() as session:
        return {k: n for k, n in session.execute(select(COUNTS.c.key, COUNTS.c.n))}


def drain(*runners: ConsumerRunner, rounds: int = 200) -> None:
    idle = 0
    for _ in range(rounds):
        done = sum(r.run_once() for r in runners)
        idle = idle + 1 if done == 0 else 0
        if idle >= 3 * len(runners):
            return


def test_each_record_counts_once_although_batches_fail(platform: Platform) -> None:
    truth = append(platform, 120)
    handler = Counter(fail_on={2, 3, 9})
    one = runner(platform, handler, "a")
    drain(one)
    assert counts(platform) == truth and one.handled == 120
    assert handler.calls > 120 // 7  # the failed batches were handled again
    more = append(platform, 30, start=120)
    drain(one)
    assert counts(platform) == {k: truth.get(k, 0) + more.get(k, 0) for k in truth | more}


def test_two_processes_share_the_partitions_and_lose_nothing(platform: Platform) -> None:
    truth = append(platform, 200)
    handler = Counter()
    a, b = (
        runner(platform, handler, "a", renew_seconds=0),
        runner(platform, handler, "b", renew_seconds=0),
    )
    a.run_once()  # a alone: takes every partition
    assert len(a.held) == 4
    drain(a, b)
    assert counts(platform) == truth
    assert len(a.held) == 2 and len(b.held) == 2 and a.handled > 0 and b.handled > 0
    assert a.handled + b.handled == 200


def test_a_stalled_owner_is_fenced_out_and_takes_nothing_away(platform: Platform) -> None:
    truth = append(platform, 60)
    handler = Counter()
    slow = runner(platform, handler, "slow", lease_seconds=0.3)
    slow.run_once()  # holds everything, commits one batch
    time.sleep(0.4)  # … then stalls past its lease
    fresh = runner(platform, handler, "fresh", lease_seconds=30, renew_seconds=0)
    drain(fresh)
    more = append(platform, 40, start=60)  # records arrive while the stalled one wakes up
    slow.renew_seconds = 1e9  # it resumes without looking at its leases
    drain(slow)  # it reads, but every commit is refused (LeaseLost) …
    assert slow.held == {}
    # Asking for partitions again made it a member: the owner gives it a fair share,
    # which waits for it until its membership lapses (its lease length), then returns.
    time.sleep(0.4)
    drain(fresh)  # … and the owner still gets every record it read (none lost to it)
    assert counts(platform) == {k: truth.get(k, 0) + more.get(k, 0) for k in truth | more}


def test_the_api_runs_the_apps_consumers_and_health_shows_them(tmp_path: Path) -> None:
    platform = Platform.create(make_settings(tmp_path, stream_consumers=True))
    try:
        records = [
            Record(
                "table",
                f"till-{i % 3}",
                {"bill": 20.0 + i, "party_size": 2, "tip": 3.0},
                T0,
                f"t{i}",
            )
            for i in range(30)
        ]
        with TestClient(create_app(platform)) as client:
            platform.stream(TABLES_STREAM, 2).append(records)
            deadline = time.monotonic() + 20
            while len(TipsStore(platform.db).frame()) < 30 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(TipsStore(platform.db).frame()) == 30
            body = client.get("/health").json()
            stream = body["components"]["stream:tips:tables"]
            assert stream["lag"] == 0 and stream["owners"] == 1 and stream["durable"] is True
            metrics = client.get("/metrics").text
            assert 'foresight_stream_lag{group="tips:tables",partition="0"} 0.0' in metrics
    finally:
        platform.close()


def test_a_stream_keeps_its_partitioning(tmp_path: Path) -> None:
    from foresight.platform.errors import InvalidInput

    platform = Platform.create(make_settings(tmp_path))
    try:
        platform.stream("fixed", 4)
        with pytest.raises(InvalidInput, match="has 4 partitions, not 8"):
            platform.stream("fixed", 8)
    finally:
        platform.close()


def test_retention_trims_only_what_every_group_has_handled(tmp_path: Path) -> None:
    from foresight.platform.operations import purge

    platform = Platform.create(make_settings(tmp_path))
    try:
        tips = platform.app("tips")
        spec = tips.consumers()[0]
        stream = platform.stream(spec.stream, spec.partitions)

        def tables(start: int, n: int) -> list[Record]:
            body = {"bill": 20.0, "party_size": 2, "tip": 3.0}
            return [
                Record("table", f"till-{i % 3}", body, T0, f"t{i}") for i in range(start, start + n)
            ]

        stream.append(tables(0, 30))
        consumer = ConsumerRunner(platform, tips, spec, owner="w", sleep=lambda s: False)
        while consumer.run_once():
            pass
        stream.append(tables(30, 12))  # not handled yet: must survive any age
        later = datetime.now(UTC) + timedelta(days=30)
        removed = purge(platform, now=later)
        assert removed["streams"] == 30
        left = stream.read("g", "c", dict.fromkeys(range(spec.partitions), (0, 0)), limit=100)
        assert sorted(int(r.idempotency_key[1:]) for e in left for r in e.records) == list(
            range(30, 42)
        )
    finally:
        platform.close()
