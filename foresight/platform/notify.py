"""Outgoing webhooks: subscriptions, HMAC-signed sends, dead letters kept for replay.

Signature header: ``X-Foresight-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with the webhook's own secret; a receiver recomputes it and rejects old timestamps.
``X-Foresight-Delivery`` is the same for every attempt of one event to one subscriber
(``event-<offset>``): delivery is at-least-once, so a receiver de-duplicates on it.

The event log is the queue (see :mod:`foresight.platform.webhook_dispatch`): publishing
only wakes the dispatcher, so nothing is held in memory per event.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import delete, select, update

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.errors import Conflict, InvalidInput, NotFound
from foresight.platform.events import DatabaseEventLog, EventLog, EventOffsetRow
from foresight.platform.webhook_dispatch import Dispatcher
from foresight.platform.webhook_leases import (
    DispatchPolicy,
    Item,
    Outcome,
    Subscriber,
    commit_offset,
    consumer_name,
    delivery_id,
)
from foresight.platform.webhook_runner import DispatchRunner

log = structlog.get_logger(__name__)

# Events the platform itself publishes; apps add their own (``App.events``).
# ``task.failed``: an app's scheduled task, or a model's after_scheduled_run hook, failed.
PLATFORM_EVENTS = ("model.gate_failed", "model.training_failed", "drift.detected", "task.failed")
MAX_URL = 1000
# Every webhook URL matches this (the API documents it as the field's pattern).
URL_PATTERN = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[!-~]*)?"
)
MAX_EVENT = 100
_EXAMPLE = "e.g. https://crm.example/hooks"
_REMOVED = "the webhook was removed before this was sent"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """Check a signature header (for receivers and tests)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


def check_url(url: object) -> str:
    """``url`` if it is an http(s) URL with a host; else InvalidInput saying what to fix.

    >>> check_url("https://crm.example/hooks")
    'https://crm.example/hooks'
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"url is required, {_EXAMPLE}")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"url must be at most {MAX_URL} characters, got {len(url)}")
    shown = url if len(url) <= 80 else url[:77] + "..."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput(f"url {shown!r} contains spaces or control characters; encode them")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidInput(f"url {shown!r} is not a valid URL ({exc}), {_EXAMPLE}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"url must start with http:// or https://, got {shown!r}, {_EXAMPLE}")
    if not host:
        raise InvalidInput(f"url {shown!r} has no host; write https://<host>/<path>, {_EXAMPLE}")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError too: lone surrogates
        raise InvalidInput(f"url {shown!r} is not a valid URL ({exc}), {_EXAMPLE}") from None
    if not URL_PATTERN.fullmatch(url):  # what the API documents; say which part is wrong
        if not re.fullmatch(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+", host):
            why = (
                "its host may hold only letters, digits, dots and hyphens (an IDN in "
                "punycode), or be an IPv6 address in brackets"
            )
        else:
            why = (
                "write it as http(s)://host[:port][/path], with no user name, a path of "
                "printable ASCII (percent-encode the rest) and any query after a /"
            )
        raise InvalidInput(f"url {shown!r}: {why}, {_EXAMPLE}")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    """The event names (de-duplicated, in order); at least one, each a short name."""
    if isinstance(events, str) or not events:
        raise InvalidInput("name at least one event, e.g. model.gate_failed")
    for e in events:
        if not isinstance(e, str) or not e.strip() or len(e) > MAX_EVENT:
            raise InvalidInput(f"each event must be a name of 1 to {MAX_EVENT} characters")
    return list(dict.fromkeys(events))


class Notifier:
    """Webhook subscriptions and their dispatcher.

    ``start=True`` (or :meth:`start`) runs the dispatcher in a background thread (the API
    server's lifespan and ``foresight worker`` do so unless
    ``FORESIGHT_WEBHOOK_DISPATCH=false``); tests call :meth:`run_once` or :meth:`drain`
    instead, with an injected ``client``, ``clock`` and ``sleep``.
    """

    def __init__(
        self,
        db: Database,
        *,
        events: EventLog | None = None,
        client: httpx.Client | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        rate_per_second: float = 10.0,
        pause_after: int = 3,
        pause_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        concurrency: int = 4,
        on_result: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        start: bool = False,
    ) -> None:
        self.db = db
        self.events = events or DatabaseEventLog(db, clock=clock)
        self.client = client or httpx.Client(timeout=5.0)
        self.on_result = on_result or (lambda status: None)
        self.clock, self.sleep = clock, sleep
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        policy = DispatchPolicy(
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            rate_per_second=rate_per_second,
            pause_after=pause_after,
            pause_seconds=pause_seconds,
        )
        # Late-bound lambdas: tests swap ``client``, ``sleep`` or ``clock`` on a live notifier.
        self.dispatcher = Dispatcher(
            db,
            self.events,
            send=self._send,
            policy=policy,
            owner=self.owner,
            clock=lambda: self.clock(),
            sleep=lambda seconds: self.sleep(seconds),
            on_result=lambda status: self.on_result(status),
        )
        self.runner = DispatchRunner(
            self.dispatcher,
            clock=lambda: self.clock(),
            sleep=lambda seconds: self.sleep(seconds),
            poll_seconds=poll_seconds,
            concurrency=concurrency,
        )
        self._published = False  # close() drains only what this process announced
        if start:
            self.start()

    # ---- subscriptions ---------------------------------------------------------------
    def add(self, url: str, events: list[str], secret: str | None = None) -> dict[str, Any]:
        """Subscribe ``url`` to ``events`` (``*``: all); it receives events from now on."""
        url, events = check_url(url), check_events(events)
        if secret is not None and not 16 <= len(secret) <= 200:
            raise InvalidInput("secret must be 16 to 200 characters (or omit it: one is made)")
        secret = secret or secrets.token_urlsafe(32)
        end = self.dispatcher.log_end()
        with self.db.session() as s:
            row = WebhookRow(url=url, events=events, secret=secret, start_offset=end)
            s.add(row)
            s.flush()
            webhook_id = row.id
            # In the same transaction: a remove() right after must find it to delete.
            commit_offset(s, webhook_id, end, now=self.clock())
        return {"id": webhook_id, "url": url, "events": events, "secret": secret}

    def remove(self, webhook_id: int) -> None:
        """Stop sending to a webhook at once; its dead deliveries stay listed."""
        with self.db.session() as s:
            row = s.get(WebhookRow, webhook_id)
            if row is None:
                raise NotFound(f"no webhook with id {webhook_id}")
            row.active = False
            s.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.webhook_id == webhook_id,
                    WebhookDeliveryRow.status == "pending",
                )
                .values(status="dead", last_error=_REMOVED, finished_at=self.clock())
            )
            # A consumer that never reads again would hold back the log's retention purge.
            consumer = consumer_name(webhook_id)
            s.execute(delete(EventOffsetRow).where(EventOffsetRow.consumer == consumer))

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every webhook with its counters; ``lag`` is how many events wait for it."""
        with self.db.session() as s:
            rows = list(s.scalars(select(WebhookRow).order_by(WebhookRow.id)))
        return [
            {
                "id": r.id,
                "url": r.url,
                "events": r.events,
                "active": r.active,
                "created_at": r.created_at,
                "delivered": r.delivered,
                "failed": r.failed,
                "lag": self.dispatcher.waiting(r) if r.active else 0,
                "attempts": r.attempts,
                "paused_until": r.paused_until,
                "last_error": r.last_error,
                "last_delivered_at": r.last_delivered_at,
            }
            for r in rows
        ]

    def deliveries(
        self, status: str | None = None, limit: int = 100, *, webhook_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored deliveries, newest first: dead ones and replays (delivered events have no
        row; the subscriber's ``delivered`` counter counts them)."""
        q = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
        if status:
            q = q.where(WebhookDeliveryRow.status == status)
        if webhook_id is not None:
            q = q.where(WebhookDeliveryRow.webhook_id == webhook_id)
        with self.db.session() as s:
            return [
                {
                    "id": r.id,
                    "webhook_id": r.webhook_id,
                    "dedup_id": delivery_id(r.event_offset, r.id),
                    "event": r.event,
                    "event_offset": r.event_offset,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "response_status": r.response_status,
                    "payload": r.payload,
                    "created_at": r.created_at,
                    "finished_at": r.finished_at,
                }
                for r in s.scalars(q)
            ]

    # ---- sending ----------------------------------------------------------------------
    def publish(self, event: str = "", payload: Mapping[str, Any] | None = None) -> None:
        """Wake the dispatcher: ``event`` is in the event log already (``Platform.announce``
        put it there), so nothing is queued here, however many events come."""
        self._published = True
        self.runner.wake()

    def replay(self, delivery_id: int) -> dict[str, Any]:
        """Queue a dead delivery to be sent again (the dispatcher sends it, durably)."""
        with self.db.session() as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None:
                raise NotFound(f"no webhook delivery with id {delivery_id}")
            if row.status == "delivered":
                raise Conflict(f"delivery {delivery_id} was delivered; nothing to replay")
            hook = s.get(WebhookRow, row.webhook_id)
            if hook is None or not hook.active:
                raise Conflict(
                    f"webhook {row.webhook_id} was removed; subscribe the URL again to "
                    "receive new events (a removed webhook's deliveries are not sent)"
                )
            row.status, row.finished_at = "pending", None
            hook.paused_until = None  # an operator's replay says the receiver is back
        self._published = True
        self.runner.wake()
        return {"id": delivery_id, "status": "pending"}

    def replay_dead(self, limit: int = 1000) -> list[int]:
        """Queue up to ``limit`` dead deliveries of active webhooks again, oldest first."""
        active = select(WebhookRow.id).where(WebhookRow.active.is_(True))
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.status == "dead",
                        WebhookDeliveryRow.webhook_id.in_(active),
                    )
                    .order_by(WebhookDeliveryRow.id)
                    .limit(limit)
                )
            )
            for row in rows:
                row.status, row.finished_at = "pending", None
            hooks = {row.webhook_id for row in rows}
            if hooks:
                s.execute(
                    update(WebhookRow).where(WebhookRow.id.in_(hooks)).values(paused_until=None)
                )
        self._published = True
        self.runner.wake()
        return [row.id for row in rows]

    def _send(self, sub: Subscriber, item: Item) -> Outcome:
        ts = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Foresight-Signature": sign(sub.secret, ts, item.body),
            "X-Foresight-Delivery": item.delivery_id,
            "X-Foresight-Event": item.event,
        }
        try:
            # Streamed and never read: a receiver's large answer costs no memory here.
            with self.client.stream("POST", sub.url, content=item.body, headers=headers) as r:
                code = r.status_code
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a broken transport must not stop the other subscribers
            log.warning("webhook_send_error", webhook_id=sub.id, exc_info=True)
            return Outcome(False, None, f"{type(exc).__name__}: {exc}")
        if code >= 300:
            return Outcome(False, code, f"HTTP {code}")
        return Outcome(True, code)

    # ---- running the dispatcher ---------------------------------------------------------
    def run_once(self) -> bool:
        """One pass over the subscribers due now, in this thread; True if anything moved."""
        return self.runner.run_once()

    def drain(self, timeout: float = 30.0) -> None:
        """Send in this thread until nothing is due, or the next retry or pause would end
        after ``timeout`` seconds (the injected ``sleep`` waits for retries)."""
        self.runner.drain(timeout)

    def wait(self, timeout: float = 30.0) -> None:
        """Same as :meth:`drain` (the name callers used before the event-log queue)."""
        self.runner.drain(timeout)

    def start(self) -> None:
        """Run the dispatcher in background threads until :meth:`close`."""
        self.runner.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the dispatcher and give up its leases. If this process published, what is
        due gets up to ``timeout`` seconds to go out; the rest waits in the event log."""
        self.runner.close(timeout, drain=self._published)
