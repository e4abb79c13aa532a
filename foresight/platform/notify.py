"""Outgoing webhooks: HMAC-signed, retried with exponential back-off, failures kept.

Signature header: ``X-Foresight-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with the webhook's own secret; a receiver recomputes it and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from tenacity import RetryError, Retrying, stop_after_attempt, wait_exponential

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import WebhookDeliveryRow, WebhookRow
from foresight.platform.errors import Conflict, InvalidInput, NotFound

log = structlog.get_logger(__name__)

# Events the platform itself publishes; apps add their own (``App.events``).
PLATFORM_EVENTS = ("model.gate_failed", "model.training_failed", "drift.detected")


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


class Notifier:
    """Stores each delivery, then sends it in the background (``wait()`` joins, for tests)."""

    def __init__(
        self,
        db: Database,
        *,
        client: httpx.Client | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        on_result: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.client = client or httpx.Client(timeout=5.0)
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.on_result = on_result or (lambda status: None)
        self.sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook")
        self._pending: set[Any] = set()
        self._lock = threading.Lock()

    # ---- subscriptions ---------------------------------------------------------------
    def add(self, url: str, events: list[str], secret: str | None = None) -> dict[str, Any]:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("url must start with http:// or https://")
        if not events:
            raise InvalidInput("name at least one event, e.g. model.gate_failed")
        secret = secret or secrets.token_urlsafe(32)
        with self.db.session() as s:
            row = WebhookRow(url=url, events=events, secret=secret)
            s.add(row)
            s.flush()
            return {"id": row.id, "url": url, "events": events, "secret": secret}

    def remove(self, webhook_id: int) -> None:
        with self.db.session() as s:
            row = s.get(WebhookRow, webhook_id)
            if row is None:
                raise NotFound(f"no webhook with id {webhook_id}")
            row.active = False

    def subscriptions(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                {"id": r.id, "url": r.url, "events": r.events, "active": r.active}
                for r in s.scalars(select(WebhookRow).order_by(WebhookRow.id))
            ]

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
            if status:
                q = q.where(WebhookDeliveryRow.status == status)
            return [
                {
                    "id": r.id,
                    "webhook_id": r.webhook_id,
                    "event": r.event,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "response_status": r.response_status,
                    "payload": r.payload,
                    "created_at": r.created_at.isoformat(),
                }
                for r in s.scalars(q)
            ]

    # ---- sending ----------------------------------------------------------------------
    def publish(self, event: str, payload: dict[str, Any]) -> list[int]:
        """Queue ``event`` for every active webhook subscribed to it; returns delivery ids."""
        with self.db.session() as s:
            hooks = [
                h
                for h in s.scalars(select(WebhookRow).where(WebhookRow.active.is_(True)))
                if event in h.events or "*" in h.events
            ]
            rows = [
                WebhookDeliveryRow(webhook_id=h.id, event=event, payload=payload) for h in hooks
            ]
            s.add_all(rows)
            s.flush()
            ids = [r.id for r in rows]
        for delivery_id in ids:
            self._send(delivery_id)
        return ids

    def _send(self, delivery_id: int) -> None:
        future = self._pool.submit(self.deliver, delivery_id)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return
            time.sleep(0.01)

    def deliver(self, delivery_id: int) -> str:
        """Send one delivery with retries; ends ``delivered`` or ``dead`` (kept for replay)."""
        with self.db.session() as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            hook = s.get(WebhookRow, row.webhook_id) if row else None
            if row is None or hook is None:
                return "missing"
            body = json.dumps(
                {"event": row.event, "id": row.id, "data": row.payload}, sort_keys=True, default=str
            ).encode()
            url, secret = hook.url, hook.secret
        attempts = 0
        last_error: str | None = None
        status_code: int | None = None

        def attempt() -> None:
            nonlocal attempts, last_error, status_code
            attempts += 1
            ts = int(time.time())
            try:
                resp = self.client.post(
                    url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Foresight-Signature": sign(secret, ts, body),
                        "X-Foresight-Delivery": str(delivery_id),
                    },
                )
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                raise
            status_code = resp.status_code
            if resp.status_code >= 300:
                last_error = f"HTTP {resp.status_code}"
                raise RuntimeError(last_error)

        try:
            for tried in Retrying(
                stop=stop_after_attempt(self.max_attempts),
                wait=wait_exponential(multiplier=self.backoff, max=60),
                sleep=self.sleep,
                reraise=False,
            ):
                with tried:
                    attempt()
            status, last_error = "delivered", None
        except RetryError:
            status = "dead"
        with self.db.session() as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is not None:
                row.status, row.last_error = status, last_error
                row.attempts = (row.attempts or 0) + attempts  # replays add to the count
                row.response_status, row.finished_at = status_code, utcnow()
        self.on_result(status)
        if status == "dead":
            log.warning(
                "webhook_dead", delivery_id=delivery_id, attempts=attempts, error=last_error
            )
        return status

    def replay(self, delivery_id: int) -> dict[str, Any]:
        """Send a dead delivery again in the background (an operator's replay)."""
        with self.db.session() as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None:
                raise NotFound(f"no webhook delivery with id {delivery_id}")
            if row.status == "delivered":
                raise Conflict(f"delivery {delivery_id} was delivered; nothing to replay")
            row.status, row.finished_at = "pending", None
        self._send(delivery_id)
        return {"id": delivery_id, "status": "pending"}

    def replay_dead(self, limit: int = 1000, *, pending_for: float = 300.0) -> list[int]:
        """Replay up to ``limit`` undelivered deliveries, oldest first: dead ones, and
        pending ones older than ``pending_for`` seconds (their process stopped before
        sending them). Returns their ids."""
        stale = utcnow() - timedelta(seconds=pending_for)
        with self.db.session() as s:
            ids = list(
                s.scalars(
                    select(WebhookDeliveryRow.id)
                    .where(
                        (WebhookDeliveryRow.status == "dead")
                        | (
                            (WebhookDeliveryRow.status == "pending")
                            & (WebhookDeliveryRow.created_at < stale)
                        )
                    )
                    .order_by(WebhookDeliveryRow.id)
                    .limit(limit)
                )
            )
        replayed = []
        for delivery_id in ids:
            try:
                self.replay(delivery_id)
            except Conflict:  # delivered meanwhile by the process that queued it
                continue
            replayed.append(delivery_id)
        return replayed

    def close(self, timeout: float = 10.0) -> None:
        """Stop after sending what is queued (up to ``timeout`` seconds); what is left stays
        ``pending`` in the database, and ``replay_dead`` sends it later."""
        self.wait(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
