"""Calendar feeds: a customer's ``.ics`` URL (Google's or Outlook's "secret address"),
fetched through the platform's guarded client (``outside.fetch``: timeouts, bounded
retries with back-off, one circuit breaker per feed URL, a size cap, no private targets).

A fetch happens outside any unit (it can take seconds); what it brings is written like an
upload (``CalendarPart._replace``, an event when the content changed). A fetch that fails
keeps the busy intervals it had, marks the calendar ``unavailable`` with the reason, and
the predictions for the customer rest on history alone and say so, until a later fetch
succeeds. A ``304 Not Modified`` confirms the stored intervals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import delete, select

from foresight.apps.delivery import store
from foresight.apps.delivery.tables import BusyRow, CalendarRow
from foresight.platform.breakers import Breakers
from foresight.platform.errors import (
    Conflict,
    InvalidInput,
    OutsideUnavailable,
    PayloadTooLarge,
)
from foresight.platform.outside import fetch
from foresight.platform.public_urls import check_public_url, public_client

FEED, FRESH, UNAVAILABLE = "feed", "fresh", "unavailable"


def feed_client(timeout_s: float, connect_s: float, *, allow_private: bool) -> httpx.Client:
    """The client feeds are fetched with: one that refuses private peers, unless the
    deployment allows private feeds (an intranet calendar server)."""
    timeout = httpx.Timeout(timeout_s, connect=connect_s)
    if allow_private:
        return httpx.Client(timeout=timeout, trust_env=False)
    return public_client(timeout=timeout)


class Feeds:
    """``set_feed`` and ``refresh`` for ``CalendarPart``, which provides the database,
    the log, the settings, the clock and the calendar writes used here."""

    client: httpx.Client
    breakers: Breakers
    sleep: Callable[[float], None]
    # from CalendarPart
    db: Any
    log: Any
    settings: Any
    limits: Any
    clock: Callable[[], datetime]

    def set_feed(self, customer_id: str, url: str, *, actor: str | None = None) -> dict[str, Any]:
        """Make ``url`` the customer's calendar and fetch it now; returns the status (a
        fetch that fails is ``unavailable`` with its ``error``, not an error answer). An
        URL that is not public http(s) or webcal is a 422; the same URL again refreshes."""
        url = check_public_url(url, allow_private=self.settings.feed_allow_private)
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            cal = unit.session.get(CalendarRow, customer_id)
            if cal is None or cal.kind != FEED or cal.url != url:
                if cal is None:
                    cal = CalendarRow(customer_id=customer_id)
                    unit.session.add(cal)
                now = self.clock()
                values = {
                    "kind": FEED,
                    "url": url,
                    "ics": None,
                    "sha256": None,
                    "etag": None,
                    "last_modified": None,
                    "status": UNAVAILABLE,
                    "error": "not fetched yet",
                    "fetched_at": None,
                    "checked_at": None,
                    "instances": 0,
                    "floating_times": False,
                    "covers_from": None,
                    "covers_to": None,
                }
                for name, value in values.items():
                    setattr(cal, name, value)
                # The old calendar's intervals are not the new feed's.
                unit.session.execute(delete(BusyRow).where(BusyRow.customer_id == customer_id))
                self._publish(unit, row, now, {"kind": FEED, "url": url}, actor)
        return self.refresh(customer_id, actor=actor)

    def refresh(self, customer_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """Fetch the customer's feed now; returns the calendar's status."""
        with self.db.session() as session:
            row = store.live_row(session, customer_id)
            cal = session.get(CalendarRow, customer_id)
            if cal is None or cal.kind != FEED or not cal.url:
                raise InvalidInput(
                    f"customer {customer_id!r} has no calendar feed; PUT one to "
                    f"/customers/{customer_id}/calendar/feed first"
                )
            url, zone = cal.url, row.timezone
            # Conditional only when there is something to keep: a feed never fetched
            # (or whose intervals were lost) asks for the whole file.
            headers = {}
            if cal.sha256:
                if cal.etag:
                    headers["If-None-Match"] = cal.etag
                if cal.last_modified:
                    headers["If-Modified-Since"] = cal.last_modified
        now = self.clock()
        s = self.settings
        try:
            response = fetch(
                self.client,
                url,
                breaker=self.breakers.for_key(url),
                attempts=s.feed_attempts,
                deadline_s=s.feed_deadline_s,
                max_bytes=self.limits.max_bytes,
                headers=headers,
                follow=None if s.feed_allow_private else check_public_url,
                allow_private=s.feed_allow_private,
                sleep=self.sleep,
            )
        except (OutsideUnavailable, PayloadTooLarge, InvalidInput) as exc:
            return self._failed(customer_id, url, now, exc.message)
        if response.status_code == 304:
            return self._confirmed(customer_id, url, now)
        if response.status_code != 200:
            reason = httpx.codes.get_reason_phrase(response.status_code)
            return self._failed(
                customer_id,
                url,
                now,
                f"the feed answered HTTP {response.status_code} {reason}".rstrip(),
            )
        data = response.content
        try:
            parsed = self._parse(data, zone, now)
        except (InvalidInput, PayloadTooLarge) as exc:
            return self._failed(customer_id, url, now, exc.message)
        sha = hashlib.sha256(data).hexdigest()
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            cal = unit.session.get(CalendarRow, customer_id)
            if cal is None or cal.url != url or row.timezone != zone:
                raise Conflict(
                    f"customer {customer_id!r} changed its calendar while the feed was "
                    "fetched; refresh again"
                )
            changed = cal.sha256 != sha
            start, end = self._window(now)
            cal = self._replace(
                unit.session,
                customer_id,
                parsed,
                now=now,
                values={
                    "kind": FEED,
                    "url": url,
                    "ics": None,
                    "sha256": sha,
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                    "covers_from": start,
                    "covers_to": end,
                },
            )
            if changed:
                self._publish(unit, row, now, {"kind": FEED, "url": url, "sha256": sha}, actor)
            return {**self._status(cal), "warnings": list(parsed.warnings)}

    def due_feeds(self, now: datetime, limit: int = 1000) -> list[str]:
        """Customers whose feed was last checked ``feed_ttl_minutes`` ago or more (or
        never), oldest first: what the scheduled refresh fetches."""
        cutoff = now.timestamp() - 60 * self.settings.feed_ttl_minutes
        query = (
            select(CalendarRow.customer_id, CalendarRow.checked_at)
            .where(CalendarRow.kind == FEED)
            .order_by(CalendarRow.checked_at.is_not(None), CalendarRow.checked_at)
        )
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [c for c, at in rows if at is None or at.timestamp() <= cutoff][:limit]

    # ---- writes of a fetch's outcome ---------------------------------------------------
    def _failed(self, customer_id: str, url: str, now: datetime, error: str) -> dict[str, Any]:
        """Keep the intervals, say the feed is unavailable and why."""
        return self._mark(customer_id, url, status=UNAVAILABLE, error=error, checked_at=now)

    def _confirmed(self, customer_id: str, url: str, now: datetime) -> dict[str, Any]:
        """A 304: the stored intervals are the feed's as of now."""
        return self._mark(
            customer_id, url, status=FRESH, error=None, checked_at=now, fetched_at=now
        )

    def _mark(self, customer_id: str, url: str, **values: Any) -> dict[str, Any]:
        with self.db.session() as session:
            cal = session.get(CalendarRow, customer_id)
            if cal is None or cal.url != url:  # replaced meanwhile: that one stands
                raise Conflict(
                    f"customer {customer_id!r} changed its calendar while the feed was "
                    "fetched; refresh again"
                )
            for name, value in values.items():
                setattr(cal, name, value)
            session.flush()
            return self._status(cal)

    # provided by CalendarPart
    def _parse(self, data: bytes, zone: str, now: datetime) -> Any:
        raise NotImplementedError

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        raise NotImplementedError

    def _replace(self, session: Any, customer_id: str, parsed: Any, **kw: Any) -> CalendarRow:
        raise NotImplementedError

    def _publish(self, unit: Any, row: Any, now: datetime, ref: Any, actor: str | None) -> None:
        raise NotImplementedError

    def _status(self, cal: CalendarRow) -> dict[str, Any]:
        raise NotImplementedError
