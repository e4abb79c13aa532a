"""Calendar feeds: a customer's ``.ics`` URL (Google's or Outlook's "secret address"),
fetched through the platform's guarded client (``outside.fetch``: timeouts, bounded
retries with back-off, one circuit breaker per feed URL, a size cap, no private targets).

A fetch happens outside any unit (it can take seconds); what it brings is written like an
upload (``CalendarPart._replace``, the file kept, an event when the content changed; the
event names the feed's host, never its URL, which is a secret). A new feed replaces the
calendar only once its first fetch gives a usable file. A later fetch that fails keeps
the busy intervals, marks the calendar ``unavailable`` with the reason, and the customer's
predictions rest on history alone and say so, until a fetch succeeds. A ``304 Not
Modified`` to a conditional request re-expands the kept file (the horizon rolls forward).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from foresight.apps.delivery import store
from foresight.apps.delivery.tables import CalendarRow
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
KEPT = "the calendar stays as it was"
WHOLE_FILE_304 = "the feed answered 304 Not Modified to a request for the whole file"


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
        """Make ``url`` the customer's calendar: fetched now, and stored only if the fetch
        gives a usable file. One that fails answers ``unavailable`` with its ``error`` and
        leaves the stored calendar as it was. A URL that is not public http(s) or webcal
        is a 422; the URL already followed is refreshed."""
        url = check_public_url(url, allow_private=self.settings.feed_allow_private)
        with self.db.session() as session:
            zone = store.live_row(session, customer_id).timezone
            cal = session.get(CalendarRow, customer_id)
            following = cal is not None and cal.kind == FEED and cal.url == url
        if following:
            return self.refresh(customer_id, actor=actor)
        now = self.clock()
        got = self._get(url, {})
        if not isinstance(got, str) and got.status_code == 304:
            got = WHOLE_FILE_304
        if isinstance(got, str):
            return {"status": UNAVAILABLE, "kind": FEED, "error": f"{got}; {KEPT}"}
        try:
            parsed = self._parse(got.content, zone, now)
        except (InvalidInput, PayloadTooLarge) as exc:
            return {"status": UNAVAILABLE, "kind": FEED, "error": f"{exc.message}; {KEPT}"}
        return self._store(customer_id, url, zone, got, parsed, now, actor, new=True)

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
            url, zone, stored = cal.url, row.timezone, cal.ics
            # Conditional only when the file is kept: a 304 then confirms it.
            headers = {}
            if stored and cal.sha256:
                if cal.etag:
                    headers["If-None-Match"] = cal.etag
                if cal.last_modified:
                    headers["If-Modified-Since"] = cal.last_modified
        now = self.clock()
        got = self._get(url, headers)
        if isinstance(got, str):
            return self._failed(customer_id, url, now, got)
        if got.status_code == 304:
            if not headers or stored is None:
                return self._failed(customer_id, url, now, WHOLE_FILE_304)
            # Unchanged: expanded again from the kept file, so the horizon rolls forward.
            data = stored
        else:
            data = got.content
        try:
            parsed = self._parse(data, zone, now)
        except (InvalidInput, PayloadTooLarge) as exc:
            return self._failed(customer_id, url, now, exc.message)
        response = got if got.status_code == 200 else None
        return self._store(customer_id, url, zone, response, parsed, now, actor, data=data)

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response | str:
        """The feed's answer (200, or 304 to a conditional request), or why it failed."""
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
                follow=lambda target: check_public_url(target, allow_private=s.feed_allow_private),
                allow_private=s.feed_allow_private,
                sleep=self.sleep,
            )
        except InvalidInput:
            # Only the redirect guard raises it here; its message would quote the target,
            # which may carry the feed's secret token.
            return "the feed redirected to an address that is refused (not public http(s))"
        except (OutsideUnavailable, PayloadTooLarge) as exc:
            return exc.message
        if response.status_code not in (200, 304):
            code = response.status_code
            said = f"the feed answered HTTP {code} {httpx.codes.get_reason_phrase(code)}"
            return said.rstrip()
        return response

    def _store(
        self,
        customer_id: str,
        url: str,
        zone: str,
        response: httpx.Response | None,
        parsed: Any,
        now: datetime,
        actor: str | None,
        *,
        data: bytes | None = None,
        new: bool = False,
    ) -> dict[str, Any]:
        """Write what a fetch brought (``response`` None: a 304 re-expanded), in a unit:
        an event when the feed is new or its content changed."""
        content = data if data is not None else (response.content if response else b"")
        sha = hashlib.sha256(content).hexdigest()
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            cal = unit.session.get(CalendarRow, customer_id)
            mine = cal is not None and cal.kind == FEED and cal.url == url
            if row.timezone != zone or (not new and not mine):
                raise Conflict(
                    f"customer {customer_id!r} changed its calendar while the feed was "
                    "fetched; refresh again"
                )
            changed = new or not mine or cal is None or cal.sha256 != sha
            start, end = self._window(now)
            values: dict[str, Any] = {
                "kind": FEED,
                "url": url,
                "ics": content,
                "sha256": sha,
                "covers_from": start,
                "covers_to": end,
            }
            if response is not None:
                values["etag"] = response.headers.get("ETag")
                values["last_modified"] = response.headers.get("Last-Modified")
            cal = self._replace(unit.session, customer_id, parsed, now=now, values=values)
            if changed:
                # Never the URL: a feed's address is its secret (Google's "secret address").
                ref = {"kind": FEED, "host": urlsplit(url).hostname, "sha256": sha}
                self._publish(unit, row, now, ref, actor)
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
