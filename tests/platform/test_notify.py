"""Webhooks: HMAC signatures, retries with back-off, dead letters kept."""

from __future__ import annotations

import time

import httpx

from foresight.platform.notify import Notifier, sign, verify


def test_signature_roundtrip_and_tamper() -> None:
    header = sign("s3cret", 1_700_000_000, b'{"a":1}')
    assert verify("s3cret", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("s3cret", header, b'{"a":2}', now=1_700_000_010)
    assert not verify("other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("s3cret", header, b'{"a":1}', now=1_700_009_999)  # too old


def test_delivery_retries_then_succeeds_signed(platform) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503 if len(calls) < 3 else 200)

    notifier = Notifier(
        platform.db,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_attempts=5,
        backoff_seconds=0,
        sleep=lambda s: None,
    )
    hook = notifier.add("http://crm.local/hook", ["churn.high_risk"])
    notifier.publish("other.event", {"x": 1})  # not subscribed
    ids = notifier.publish("churn.high_risk", {"customer_id": "C1"})
    notifier.wait()
    assert len(ids) == 1 and len(calls) == 3
    last = calls[-1]
    assert verify(
        hook["secret"], last.headers["X-Foresight-Signature"], last.content, now=time.time()
    )
    delivery = notifier.deliveries()[0]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3


def test_failing_endpoint_ends_in_dead_letter(platform) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    waits: list[float] = []
    notifier = Notifier(
        platform.db,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_attempts=4,
        backoff_seconds=1.0,
        sleep=waits.append,
    )
    notifier.add("http://crm.local/hook", ["*"])
    notifier.publish("churn.high_risk", {"customer_id": "C1"})
    notifier.wait()
    dead = notifier.deliveries("dead")
    assert len(dead) == 1 and dead[0]["attempts"] == 4 and "ConnectError" in dead[0]["last_error"]
    assert waits == sorted(waits) and waits[0] >= 1.0  # exponential back-off


def test_deliveries_left_at_close_are_replayed_later(platform) -> None:
    import threading

    gate = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        gate.wait(5)
        return httpx.Response(200)

    notifier = Notifier(
        platform.db, client=httpx.Client(transport=httpx.MockTransport(slow)), sleep=lambda s: None
    )
    notifier.add("http://crm.local/hook", ["model.gate_failed"])
    ids = [notifier.publish("model.gate_failed", {"n": i})[0] for i in range(5)]
    notifier.close(timeout=0.1)  # a CLI command ending while sends are queued
    left = [d for d in notifier.deliveries() if d["status"] == "pending"]
    assert left  # kept, not lost
    gate.set()
    ok = Notifier(
        platform.db,
        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
    )
    ok.replay_dead(pending_for=0)
    ok.wait()
    notifier.wait()
    assert {d["status"] for d in ok.deliveries() if d["id"] in ids} == {"delivered"}
    ok.close()
