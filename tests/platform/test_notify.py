"""Webhooks: signatures, retries with back-off, dead letters, the rate bound, pauses,
de-duplication, replays, restarts and removal; the event log is the queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.errors import Conflict, InvalidInput
from foresight.platform.events import DatabaseEventLog, EventOffsetRow, NewEvent
from foresight.platform.notify import Notifier, check_url, sign, verify


class FakeClock:
    """A clock the injected ``sleep`` moves forward: back-offs and pauses take no time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """A webhook endpoint behind ``httpx.MockTransport``: answers ``status``, or refuses
    the connection while ``down``; remembers each request and when it came."""

    def __init__(self, clock: FakeClock, status: int = 200) -> None:
        self.clock, self.status, self.down = clock, status, False
        self.requests: list[httpx.Request] = []
        self.times: list[datetime] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(self.clock())
        if self.down:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(self.status)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def delivery_ids(self) -> list[str]:
        return [r.headers["X-Foresight-Delivery"] for r in self.requests]

    def data(self) -> list[Any]:
        return [json.loads(r.content)["data"] for r in self.requests]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'hooks.db'}")
    migrate.upgrade(database, [])
    yield database
    database.dispose()


def make(db: Database, clock: FakeClock, receiver: Receiver, **kw: Any) -> Notifier:
    """A notifier without a background thread, on the fake clock (a new "process")."""
    kw.setdefault("backoff_seconds", 1.0)
    return Notifier(
        db,
        events=DatabaseEventLog(db, clock=clock),
        client=receiver.client(),
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


def announce(n: Notifier, event: str, payload: dict, *, key: str | None = None) -> int:
    """What ``Platform.announce`` does: record in the log, then wake the dispatcher."""
    offset = n.events.publish(event, "entity", payload, idempotency_key=key).offset
    n.publish(event, payload)
    return offset


def sub(n: Notifier, webhook_id: int) -> dict[str, Any]:
    return next(s for s in n.subscriptions() if s["id"] == webhook_id)


def test_signature_roundtrip_and_tamper() -> None:
    header = sign("s3cret", 1_700_000_000, b'{"a":1}')
    assert verify("s3cret", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("s3cret", header, b'{"a":2}', now=1_700_000_010)
    assert not verify("other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("s3cret", header, b'{"a":1}', now=1_700_009_999)  # too old


def test_delivery_retries_then_succeeds_signed_with_one_delivery_id(db, clock) -> None:
    receiver = Receiver(clock, status=503)
    n = make(db, clock, receiver)
    hook = n.add("http://crm.local/hook", ["churn.high_risk"])
    announce(n, "other.event", {"x": 1})  # not subscribed
    offset = announce(n, "churn.high_risk", {"customer_id": "C1"})
    n.run_once()
    receiver.status = 200
    n.drain()
    assert len(receiver.requests) == 2
    assert receiver.delivery_ids() == [f"event-{offset}"] * 2  # the receiver's dedup key
    last = receiver.requests[-1]
    assert last.headers["X-Foresight-Event"] == "churn.high_risk"
    assert json.loads(last.content) == {
        "id": f"event-{offset}",
        "event": "churn.high_risk",
        "data": {"customer_id": "C1"},
    }
    assert verify(
        hook["secret"],
        last.headers["X-Foresight-Signature"],
        last.content,
        now=clock().timestamp(),
    )
    listed = sub(n, hook["id"])
    assert (listed["delivered"], listed["failed"], listed["lag"]) == (1, 0, 0)
    assert n.deliveries() == []  # a delivered event needs no row: the offset records it


def test_failing_endpoint_backs_off_then_ends_dead(db, clock) -> None:
    receiver = Receiver(clock)
    receiver.down = True
    n = make(db, clock, receiver, max_attempts=4)
    hook = n.add("http://crm.local/hook", ["*"])
    offset = announce(n, "churn.high_risk", {"customer_id": "C1"})
    n.drain()
    gaps = [(b - a).total_seconds() for a, b in pairwise(receiver.times)]
    assert gaps == [1.0, 2.0, 4.0]  # exponential back-off
    [dead] = n.deliveries("dead")
    assert dead["attempts"] == 4 and "ConnectError" in dead["last_error"]
    assert (dead["event_offset"], dead["dedup_id"]) == (offset, f"event-{offset}")
    assert dead["payload"] == {"customer_id": "C1"}
    listed = sub(n, hook["id"])
    assert (listed["delivered"], listed["failed"], listed["lag"]) == (0, 1, 0)


def test_a_failing_subscriber_does_not_hold_up_the_others(db, clock) -> None:
    ok, broken = Receiver(clock), Receiver(clock)
    broken.down = True
    n = make(db, clock, ok)
    n.add("http://ok.local/h", ["*"])
    n.add("http://broken.local/h", ["*"])
    n.client = httpx.Client(
        transport=httpx.MockTransport(lambda r: (ok if r.url.host == "ok.local" else broken)(r))
    )
    for i in range(3):
        announce(n, "e", {"i": i})
    n.run_once()  # one pass: the healthy one gets its page while the other backs off
    assert ok.data() == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert len(broken.requests) == 1


def test_requests_to_one_subscriber_are_rate_bound(db, clock) -> None:
    receiver = Receiver(clock)
    n = make(db, clock, receiver, rate_per_second=10)
    n.add("http://crm.local/hook", ["*"])
    for i in range(30):
        announce(n, "e", {"i": i})
    n.drain()
    assert receiver.data() == [{"i": i} for i in range(30)]  # in order, each once
    gaps = [(b - a).total_seconds() for a, b in pairwise(receiver.times)]
    assert min(gaps) >= 0.1 - 1e-9


def test_one_event_is_delivered_once_per_subscriber(db, clock) -> None:
    receiver = Receiver(clock)
    n = make(db, clock, receiver)
    n.add("http://crm.local/a", ["e"])
    n.add("http://crm.local/b", ["*"])
    first = announce(n, "e", {"n": 1}, key="order-1")
    assert announce(n, "e", {"n": 1}, key="order-1") == first  # the same event: stored once
    second = announce(n, "e", {"n": 2}, key="order-2")
    n.drain()
    n.drain()  # nothing left: the offsets are committed
    by_url: dict[str, list[str]] = {}
    for r in receiver.requests:
        by_url.setdefault(r.url.path, []).append(r.headers["X-Foresight-Delivery"])
    ids = [f"event-{first}", f"event-{second}"]
    assert by_url == {"/a": ids, "/b": ids}


def test_a_new_subscriber_starts_at_the_end_and_gets_only_its_types(db, clock) -> None:
    receiver = Receiver(clock)
    n = make(db, clock, receiver)
    announce(n, "model.gate_failed", {"old": True})  # before it subscribed
    hook = n.add("http://crm.local/hook", ["model.gate_failed"])
    for i in range(5):
        announce(n, "churn.high_risk", {"i": i})
    announce(n, "model.gate_failed", {"new": True})
    for i in range(5):
        announce(n, "churn.high_risk", {"i": i})
    n.drain()
    assert receiver.data() == [{"new": True}]
    # Caught up past the events of other types: no lag, nothing holding back retention.
    assert sub(n, hook["id"])["lag"] == 0
    assert n.events.committed(f"webhook:{hook['id']}") == 12


EVENTS = 100


def test_dead_subscribers_are_paused_and_their_events_wait_in_the_log(db, clock) -> None:
    receivers = [Receiver(clock) for _ in range(15)]
    for r in receivers:
        r.down = True
    n = make(db, clock, receivers[0], max_attempts=2, pause_after=3, pause_seconds=60)
    hosts = {f"r{i}.local": r for i, r in enumerate(receivers)}
    n.client = httpx.Client(transport=httpx.MockTransport(lambda req: hosts[req.url.host](req)))
    hooks = [n.add(f"http://{host}/h", ["*"]) for host in hosts]
    n.events.publish_many(NewEvent("e", "k", {"i": i}) for i in range(EVENTS))
    n.publish()
    n.drain()
    # 15 dead receivers cost 3 dead rows and 6 requests each, not 15 x EVENTS rows.
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookDeliveryRow)) == 45
    assert sum(len(r.requests) for r in receivers) == 90
    listed = sub(n, hooks[0]["id"])
    assert clock() < listed["paused_until"] <= clock() + timedelta(seconds=60)
    assert (listed["failed"], listed["lag"]) == (3, EVENTS - 3)

    clock.sleep(61)  # one probe per subscriber after the pause; it fails: the pause doubles
    n.drain()
    assert len(receivers[0].requests) == 8
    assert clock() < sub(n, hooks[0]["id"])["paused_until"] <= clock() + timedelta(seconds=120)

    for r in receivers:  # back: what waited in the log is delivered, in order, once
        r.down = False
    clock.sleep(121)
    n.drain(timeout=120)
    assert receivers[0].data()[8:] == [{"i": i} for i in range(4, EVENTS)]
    listed = sub(n, hooks[0]["id"])
    assert (listed["delivered"], listed["failed"], listed["lag"]) == (EVENTS - 4, 4, 0)


def test_a_new_process_resumes_from_the_committed_offset(db, clock) -> None:
    receiver = Receiver(clock)
    first = make(db, clock, receiver, rate_per_second=1000)
    first.add("http://crm.local/hook", ["*"])
    for i in range(10):
        announce(first, "e", {"i": i})

    class Crash(BaseException):
        """The process dies after the 5th request was sent, before recording it."""

    def dies_on_fifth(request: httpx.Request) -> httpx.Response:
        response = receiver(request)
        if len(receiver.requests) == 5:
            raise Crash
        return response

    first.client = httpx.Client(transport=httpx.MockTransport(dies_on_fifth))
    with pytest.raises(Crash):
        first.drain()
    with db.session() as s:  # a dead process keeps its lease until it expires
        lease = {"lease_owner": "dead-process", "lease_until": clock() + timedelta(seconds=60)}
        s.execute(update(WebhookRow).values(**lease))
    second = make(db, clock, receiver, rate_per_second=1000)  # a restarted process
    second.drain(timeout=1)
    assert len(receiver.requests) == 5  # the lease holds it off...
    clock.sleep(61)
    second.drain()  # ...until it expires; then it resumes after the last committed event
    assert receiver.delivery_ids() == [f"event-{i}" for i in (1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10)]
    assert second.deliveries() == [] and sub(second, 1)["lag"] == 0


def test_stored_pending_rows_from_before_are_sent(db, clock) -> None:
    receiver = Receiver(clock)
    n = make(db, clock, receiver)
    hook = n.add("http://crm.local/hook", ["*"])
    with db.session() as s:  # what the previous version left "pending" at a restart
        s.add(WebhookDeliveryRow(webhook_id=hook["id"], event="e", payload={"old": 1}))
    n.drain()
    assert receiver.delivery_ids() == ["1"] and receiver.data() == [{"old": 1}]
    assert [d["status"] for d in n.deliveries()] == ["delivered"]


def test_dead_deliveries_are_replayed_on_purpose(db, clock) -> None:
    receiver = Receiver(clock, status=500)
    n = make(db, clock, receiver, max_attempts=2)
    n.add("http://crm.local/hook", ["*"])
    offset = announce(n, "e", {"n": 1})
    n.drain()
    [dead] = n.deliveries("dead")
    receiver.status = 200
    assert n.replay(dead["id"]) == {"id": dead["id"], "status": "pending"}
    n.drain()
    [row] = n.deliveries()
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["response_status"] == 200
    assert receiver.delivery_ids() == [f"event-{offset}"] * 3  # a replay keeps its id
    with pytest.raises(Conflict):
        n.replay(dead["id"])  # only undelivered ones
    receiver.status = 500
    announce(n, "e", {"n": 2})
    n.drain()
    receiver.status = 200
    assert len(n.replay_dead()) == 1
    n.drain()
    assert {d["status"] for d in n.deliveries()} == {"delivered"}


def test_a_removed_subscriber_receives_nothing_more(db, clock) -> None:
    receiver = Receiver(clock, status=500)
    n = make(db, clock, receiver, max_attempts=1)
    hook = n.add("http://crm.local/hook", ["*"])
    announce(n, "e", {"n": 1})
    n.drain()
    receiver.status = 200
    announce(n, "e", {"n": 2})  # waiting in the log when it is removed
    n.remove(hook["id"])
    announce(n, "e", {"n": 3})
    n.drain()
    assert receiver.data() == [{"n": 1}]
    assert sub(n, hook["id"])["active"] is False and sub(n, hook["id"])["lag"] == 0
    with pytest.raises(Conflict, match="was removed"):
        n.replay(n.deliveries("dead")[0]["id"])


def test_a_remove_racing_a_delivery_does_not_bring_its_offset_back(db, clock) -> None:
    """remove() lands right after a delivery's record commits (deterministically, from
    the commit hook): the removed consumer's offset must stay gone, or the log's purge
    (the least committed offset) would never move past it again."""
    receiver = Receiver(clock)
    n = make(db, clock, receiver)
    hook = n.add("http://crm.local/hook", ["*"])
    announce(n, "e", {"n": 1})
    removed: list[bool] = []

    def remove_after_the_record(session: Session) -> None:
        if receiver.requests and not removed:
            removed.append(True)
            n.remove(hook["id"])

    event.listen(Session, "after_commit", remove_after_the_record)
    try:
        n.drain()
    finally:
        event.remove(Session, "after_commit", remove_after_the_record)
    assert removed and receiver.data() == [{"n": 1}]
    with db.session() as s:
        assert s.scalars(select(EventOffsetRow.consumer)).all() == []
    clock.now += timedelta(days=1)
    assert n.events.purge(clock.now) == 1  # nothing holds the log back


def test_a_slow_rate_ends_the_lease_instead_of_sleeping_in_it(db, clock) -> None:
    """At one request per 100 s the wait between two events would outlast the 60 s
    lease (another process would take over and send too): the page ends instead and the
    subscriber comes back due when the wait is over."""
    receiver = Receiver(clock)
    slept: list[float] = []
    n = make(db, clock, receiver, rate_per_second=0.01)
    n.sleep = lambda seconds: slept.append(seconds)  # a sleep that does not move the clock
    n.add("http://crm.local/hook", ["*"])
    announce(n, "e", {"n": 1})
    announce(n, "e", {"n": 2})
    assert n.run_once()
    assert receiver.data() == [{"n": 1}] and slept == []
    with db.session() as s:
        assert s.scalar(select(WebhookRow.lease_owner)) is None  # given up, not held asleep
    ready, wake_at = n.dispatcher.due()
    assert ready == [] and wake_at == clock.now + timedelta(seconds=100)
    clock.now = wake_at
    assert n.run_once()
    assert receiver.data() == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://", "no host"),
        ("http:///x", "no host"),
        ("https://:443/x", "no host"),
        ("ftp://crm.example/h", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("crm.example/hooks", "http:// or https://"),
        ("http://crm.example:99999/h", "not a valid URL"),
        ("http://[::1/h", "not a valid URL"),
        ("http://crm.example/a b", "spaces"),
        ("http://0*", "letters, digits, dots and hyphens"),  # the documented pattern
        ("https://ops:pw@crm.example/h", "no user name"),
        ("https://crm.example?a=1", "any query after a /"),
        ("", "url is required"),
        ("https://crm.example/" + "x" * 1000, "at most 1000"),
    ],
)
def test_urls_without_an_http_scheme_or_host_are_refused(url: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as info:
        check_url(url)
    assert info.value.status == 422 and info.value.message.startswith("url")


def test_good_urls_are_kept_and_notifier_add_checks_them(db, clock) -> None:
    for url in ("https://crm.example/hooks", "HTTP://10.0.0.5:8080/h?x=1", "http://[::1]:9/h"):
        assert check_url(url) == url
    n = make(db, clock, Receiver(clock))
    with pytest.raises(InvalidInput, match="no host"):
        n.add("http://", ["*"])
    with pytest.raises(InvalidInput, match="at least one event"):
        n.add("https://crm.example/h", [])
    assert n.subscriptions() == []


def test_a_retry_key_of_a_replayed_row_survives_its_rename(db: Database) -> None:
    from alembic import command

    cfg = migrate.alembic_config(db)
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0008_events_key_only")
    with db.session() as s:
        s.add(WebhookRow(url="https://example.com/h", events=["*"], secret="x", head="delivery:7"))
    migrate.upgrade(db, [])  # 0009: the key a retry count belongs to is "row:<id>" now
    with db.session() as s:
        assert s.scalars(select(WebhookRow.head)).all() == ["row:7"]
