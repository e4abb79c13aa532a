"""Webhook dispatch across processes and versions, on SQLite and PostgreSQL: one sender per
subscriber at a time, the upgrade from stored deliveries, and memory that does not grow
with the number of waiting events."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from foresight.platform.db import migrate
from foresight.platform.db.base import UTCDateTime
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.events import DatabaseEventLog, NewEvent
from foresight.platform.notify import Notifier


class ConcurrencyProbe:
    """A receiver that takes a moment per request and records, per path, how many requests
    were in flight at once and which deliveries arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.received: dict[str, list[str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        with self.lock:
            self.in_flight[path] = self.in_flight.get(path, 0) + 1
            self.most[path] = max(self.most.get(path, 0), self.in_flight[path])
            self.received.setdefault(path, []).append(request.headers["X-Foresight-Delivery"])
        time.sleep(0.002)
        with self.lock:
            self.in_flight[path] -= 1
        return httpx.Response(204)


def test_two_processes_never_send_one_subscribers_events_together(db: Database) -> None:
    probe = ConcurrencyProbe()

    def process() -> Notifier:
        client = httpx.Client(transport=httpx.MockTransport(probe))
        return Notifier(db, client=client, rate_per_second=1000)

    a, b = process(), process()
    paths = [f"/s{i}" for i in range(3)]
    for path in paths:
        a.add(f"http://crm.local{path}", ["*"])
    offsets = [r.offset for r in a.events.publish_many(NewEvent("e", "k", {}) for _ in range(60))]
    threads = [threading.Thread(target=p.drain, kwargs={"timeout": 60}) for p in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.drain(timeout=60)  # whatever one left while the other held the lease
    expected = [f"event-{o}" for o in offsets]
    assert {path: probe.received.get(path) for path in paths} == dict.fromkeys(paths, expected)
    assert set(probe.most.values()) == {1}  # one request in flight per subscriber
    with db.session() as s:
        assert s.scalars(sa.select(WebhookRow.lease_owner)).all() == [None, None, None]


def test_close_still_drains_subscribers_whose_queued_task_was_cancelled(db: Database) -> None:
    """One sending thread, two subscribers: the second's task waits in the pool queue when
    close() cancels it; close's drain must then still send to it, not wait out its
    timeout believing another thread is serving it."""
    release = threading.Event()
    received: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request.url.path)
        if request.url.path == "/first":
            release.wait(10)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(receiver))
    n = Notifier(db, client=client, concurrency=1, poll_seconds=0.05, rate_per_second=1000)
    n.add("http://crm.local/first", ["*"])
    n.add("http://crm.local/second", ["*"])
    n.events.publish("e", "k", {})
    n.start()
    n.publish("e", {})
    deadline = time.monotonic() + 10
    while not received:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)  # the second subscriber's task is queued behind the blocked first
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    n.close(timeout=5)
    assert sorted(received) == ["/first", "/second"]
    assert time.monotonic() - started < 4


def test_upgrade_keeps_stored_deliveries_and_does_not_resend_the_past(db_url: str) -> None:
    database = Database(db_url)
    cfg = migrate.alembic_config(database)
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_monitor")
    _insert_rows_of_the_previous_version(database)

    migrate.upgrade(database, [])
    with database.session() as s:
        starts = s.scalars(sa.select(WebhookRow.start_offset).order_by(WebhookRow.id)).all()
        rows = s.execute(
            sa.select(WebhookDeliveryRow.id, WebhookDeliveryRow.status).order_by("id")
        ).all()
    assert starts == [3, 3]  # both subscribers start at the log's end
    # pending of the active one: still to send; of the removed one: dead; others as they were
    assert [tuple(r) for r in rows] == [(1, "pending"), (2, "dead"), (3, "dead"), (4, "delivered")]

    received: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: received.append(r) or httpx.Response(200))
    )
    notifier = Notifier(database, events=DatabaseEventLog(database), client=client)
    notifier.drain(timeout=10)
    assert [r.headers["X-Foresight-Delivery"] for r in received] == ["1"]  # not the old events
    assert notifier.deliveries(status="pending") == []

    with database.engine.begin() as conn:  # and back down, on both backends
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_monitor")
    assert "start_offset" not in {
        c["name"] for c in sa.inspect(database.engine).get_columns("webhooks")
    }
    database.dispose()


def _insert_rows_of_the_previous_version(database: Database) -> None:
    """Two webhooks (one removed), three events, four deliveries as 0005 stored them."""
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    time_ = UTCDateTime()
    webhooks = sa.table(
        "webhooks",
        *(sa.column(c) for c in ("url", "secret")),
        sa.column("events", json),
        sa.column("active", sa.Boolean()),
        sa.column("created_at", time_),
    )
    events = sa.table(
        "events",
        *(sa.column(c) for c in ("type", "key", "idempotency_key")),
        sa.column("payload", json),
        sa.column("occurred_at", time_),
        sa.column("recorded_at", time_),
    )
    deliveries = sa.table(
        "webhook_deliveries",
        *(sa.column(c) for c in ("webhook_id", "event", "status", "attempts")),
        sa.column("payload", json),
        sa.column("created_at", time_),
    )
    now = datetime.now(UTC)
    with database.engine.begin() as conn:
        for active in (True, False):
            hook = {"url": "http://crm.local/h", "secret": "s" * 20, "events": ["*"]}
            conn.execute(webhooks.insert().values(**hook, active=active, created_at=now))
        for i in range(3):
            row = {"type": "e", "key": "k", "idempotency_key": f"k{i}", "payload": {"i": i}}
            conn.execute(events.insert().values(**row, occurred_at=now, recorded_at=now))
        for hook_id, status in ((1, "pending"), (2, "pending"), (1, "dead"), (1, "delivered")):
            row = {"webhook_id": hook_id, "event": "e", "status": status, "attempts": 0}
            conn.execute(deliveries.insert().values(**row, payload={}, created_at=now))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_100k_events_for_15_dead_subscribers_cost_a_few_rows_not_memory(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'load.db'}")
    migrate.upgrade(db, [])
    port = _closed_port()
    notifier = Notifier(db, max_attempts=2, backoff_seconds=0.01, pause_seconds=60)
    for i in range(15):
        notifier.add(f"http://127.0.0.1:{port}/hook{i}", ["*"])
    for start in range(0, 100_000, 10_000):
        notifier.events.publish_many(
            NewEvent("churn.high_risk", f"C{i}", {"customer_id": f"C{i}", "p": 0.9})
            for i in range(start, start + 10_000)
        )
    before = _rss_mb()
    for _ in range(10_000):  # what Platform.announce does per event after recording it
        notifier.publish("churn.high_risk", {})
    notifier.drain(timeout=60)
    grown = _rss_mb() - before
    with db.session() as s:
        rows = s.scalar(sa.select(sa.func.count()).select_from(WebhookDeliveryRow))
    lags = {h["lag"] for h in notifier.subscriptions()}
    print(f"\nRSS {before:.0f} MB before dispatch, +{grown:.1f} MB after; {rows} rows")
    assert rows == 45 and lags == {100_000 - 3}  # 3 dead each, then paused; the rest waits
    assert grown < 50
    notifier.close()
    db.dispose()
