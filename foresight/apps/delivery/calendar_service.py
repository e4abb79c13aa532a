"""Customers' calendars: uploads, their busy intervals, their status, and the calendars
the model reads (docs/delivery-plan.md §4.4).

A calendar change is a customer change: one ``events.atomic()`` unit replaces the
``delivery_calendars`` row and every ``delivery_busy`` row of the customer, bumps the
customer's ``version`` and ``state_version`` and publishes ``CustomerProfileUpdated`` with
``changes={"calendar": …}``. The file is parsed *before* the unit opens: parsing can take
seconds and a unit holds the log's write lock. A file that cannot be used raises before
anything is written, so the previous calendar stays as it was.

Feeds (``PUT …/calendar/feed``, refresh; ``feeds.py``) write through the same
``_replace`` and ``_publish``; only intervals are stored, never titles or places.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session, defer

from foresight.apps.delivery import state, store
from foresight.apps.delivery.calendars import CalendarLimits, ParsedCalendar, parse_busy
from foresight.apps.delivery.epoch import EpochSeconds
from foresight.apps.delivery.feeds import Feeds, feed_client
from foresight.apps.delivery.inputs import NO_CALENDAR, Calendar
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.tables import BusyRow, CalendarRow, CustomerRow
from foresight.platform.breakers import Breakers
from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict
from foresight.platform.event_units import Unit
from foresight.platform.events import EventLog, NewEvent

UPLOAD, FEED = "upload", "feed"
FRESH = "fresh"
STATUS_DAYS = 7  # GET …/calendar lists the busy intervals of the next week
# A customer's zone changing between the parse and the unit is rare; each retry parses
# again in the new zone, so a couple of them settle any real race.
_TRIES = 3
_BUSY = cast(Table, BusyRow.__table__)
_INSERT_CHUNK = 5000


class CalendarPart(Feeds):
    """Upload, read and delete a customer's calendar, or follow its feed (``Feeds``);
    give the model its busy time. ``client`` fetches feeds (default: a public-only
    client with the feed timeouts); ``breakers`` keeps one breaker per feed URL."""

    def __init__(
        self,
        db: Database,
        events: EventLog,
        settings: DeliverySettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        client: httpx.Client | None = None,
        breakers: Breakers | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db, self.log, self.settings, self.clock = db, events, settings, clock
        self.client = client or feed_client(
            settings.feed_timeout_s,
            settings.feed_connect_timeout_s,
            allow_private=settings.feed_allow_private,
        )
        self.breakers = breakers or Breakers(
            failures=settings.breaker_failures, reset_seconds=settings.breaker_reset_seconds
        )
        self.sleep = sleep
        self.limits = CalendarLimits(
            max_bytes=settings.calendar_max_bytes,
            max_components=settings.calendar_max_components,
            max_instances=settings.calendar_max_instances,
        )

    # ---- uploads -----------------------------------------------------------------------
    def upload(self, customer_id: str, data: bytes, *, actor: str | None = None) -> dict[str, Any]:
        """Replace the customer's calendar by the ``.ics`` file ``data``; returns its status
        (with the parser's ``warnings``). The same file as the stored upload changes
        nothing (no version, no event). A file over a limit raises ``PayloadTooLarge``,
        a malformed one ``InvalidInput``; either leaves the stored calendar as it was."""
        sha = hashlib.sha256(data).hexdigest()
        for _ in range(_TRIES):
            zone, stored_sha = self._peek(customer_id)
            now = self.clock()
            # An unchanged file is not parsed again: the answer is the stored status.
            parsed = None if stored_sha == sha else self._parse(data, zone, now)
            with self.log.atomic() as unit:
                row = store.live_row(unit.session, customer_id)
                cal = _calendar_row(unit.session, customer_id)
                if cal is not None and _upload_sha(cal) == sha:
                    return status_of(cal)
                if parsed is None or row.timezone != zone:
                    continue  # the calendar or the zone changed since the peek: again
                start, end = self._window(now)
                cal = self._replace(
                    unit.session,
                    customer_id,
                    parsed,
                    now=now,
                    values={
                        "kind": UPLOAD,
                        "url": None,
                        "ics": data,
                        "sha256": sha,
                        "etag": None,
                        "last_modified": None,
                        "covers_from": start,
                        "covers_to": end,
                    },
                )
                self._publish(unit, row, now, {"kind": UPLOAD, "sha256": sha}, actor)
                return {**status_of(cal), "warnings": list(parsed.warnings)}
        raise Conflict(
            f"customer {customer_id!r} changed while its calendar was read; send it again"
        )

    # ---- reads -------------------------------------------------------------------------
    def status(self, customer_id: str) -> dict[str, Any]:
        """``{kind, status, error, checked_at, fetched_at, instances, floating_times,
        busy_next_7_days: [[start, end, all_day], …]}`` (ISO times, UTC; the intervals that
        overlap the next 7 days, as stored), or ``{"status": "none"}``."""
        now = self.clock()
        with self.db.session() as session:
            store.live_row(session, customer_id)
            cal = _calendar_row(session, customer_id)
            if cal is None:
                return {"status": "none"}
            query = (
                select(BusyRow.start_at, BusyRow.end_at, BusyRow.all_day)
                .where(
                    BusyRow.customer_id == customer_id,
                    BusyRow.start_at < now + timedelta(days=STATUS_DAYS),
                    BusyRow.end_at > now,
                )
                .order_by(BusyRow.start_at)
            )
            week = [[_iso(s), _iso(e), bool(a)] for s, e, a in session.execute(query)]
            return {**status_of(cal), "busy_next_7_days": week}

    def delete(self, customer_id: str, *, actor: str | None = None) -> None:
        """Remove the customer's calendar and its busy intervals (a new version and an
        event with ``changes={"calendar": None}``). No calendar: nothing changes."""
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            if _calendar_row(unit.session, customer_id) is None:
                return
            now = self.clock()
            store.erase_calendar(unit.session, customer_id)
            self._publish(unit, row, now, None, actor)

    def calendar_of(self, customer_id: str, *, now: datetime) -> Calendar:
        """The customer's calendar as the model reads it (``NO_CALENDAR`` if none)."""
        return self.calendars_for([customer_id], now=now)[customer_id]

    def calendars_for(self, customer_ids: Iterable[str], *, now: datetime) -> dict[str, Calendar]:
        """Every requested customer's calendar (``NO_CALENDAR`` for those without one):
        busy intervals as sorted, merged (m, 2) int64 UTC seconds with all-day flags;
        ``known`` only for a fresh upload or a feed fetched within ``feed_stale_hours``.
        Two queries per 500 customers, whatever their calendars hold."""
        ids = sorted(set(customer_ids))
        found: dict[str, Calendar] = dict.fromkeys(ids, NO_CALENDAR)
        heads: dict[str, tuple[str, str, datetime | None, tuple[int, int] | None]] = {}
        rows: list[Any] = []
        head_query = select(
            CalendarRow.customer_id,
            CalendarRow.kind,
            CalendarRow.status,
            CalendarRow.fetched_at,
            CalendarRow.covers_from,
            CalendarRow.covers_to,
        )
        busy_query = select(
            BusyRow.customer_id,
            EpochSeconds(BusyRow.start_at),
            EpochSeconds(BusyRow.end_at),
            BusyRow.all_day,
        ).order_by(BusyRow.customer_id, BusyRow.start_at)
        with self.db.session() as session:
            # Core rows, not the ORM's: its per-row loading would double the cost here.
            conn = session.connection()
            for part in store.chunks(ids):
                query = head_query.where(CalendarRow.customer_id.in_(part))
                for cid, k, s, f, lo, hi in conn.execute(query):
                    covers = (int(lo.timestamp()), int(hi.timestamp())) if lo and hi else None
                    heads[cid] = (k, s, f, covers)
            for part in store.chunks(sorted(heads)):
                rows.extend(conn.execute(busy_query.where(BusyRow.customer_id.in_(part))).all())
        stale_after = timedelta(hours=self.settings.feed_stale_hours)
        intervals = _split(rows)
        for cid, (kind, status, fetched_at, covers) in heads.items():
            recent = fetched_at is not None and now - fetched_at <= stale_after
            busy, all_day = intervals.get(cid, (NO_CALENDAR.busy, NO_CALENDAR.all_day))
            known = status == FRESH and (kind == UPLOAD or recent)
            found[cid] = Calendar(
                busy=busy, all_day=all_day, known=known, status=status, covers=covers
            )
        return found

    # ---- helpers -----------------------------------------------------------------------
    def _status(self, cal: CalendarRow) -> dict[str, Any]:
        return status_of(cal)

    def _peek(self, customer_id: str) -> tuple[str, str | None]:
        """The customer's zone and the sha256 of its stored upload (404 if not live)."""
        with self.db.session() as session:
            row = store.live_row(session, customer_id)
            cal = _calendar_row(session, customer_id)
            return row.timezone, None if cal is None else _upload_sha(cal)

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        """The span a calendar is expanded over: its past for training, its future for
        predictions (``calendar_past_days`` back, ``calendar_horizon_days`` ahead)."""
        past = timedelta(days=self.settings.calendar_past_days)
        return now - past, now + timedelta(days=self.settings.calendar_horizon_days)

    def _parse(self, data: bytes, zone: str, now: datetime) -> ParsedCalendar:
        start, end = self._window(now)
        return parse_busy(data, tz=ZoneInfo(zone), start=start, end=end, limits=self.limits)

    def _replace(
        self,
        session: Session,
        customer_id: str,
        parsed: ParsedCalendar,
        *,
        now: datetime,
        values: dict[str, Any],
    ) -> CalendarRow:
        """Write the calendar row (``values`` plus a fresh status) and replace every busy
        interval of the customer by ``parsed``'s, in the caller's unit."""
        cal = _calendar_row(session, customer_id)
        if cal is None:
            cal = CalendarRow(customer_id=customer_id)
            session.add(cal)
        fields = {
            **values,
            "status": FRESH,
            "error": None,
            "fetched_at": now,
            "checked_at": now,
            "instances": parsed.instances,
            "floating_times": parsed.floating_times,
        }
        for name, value in fields.items():
            setattr(cal, name, value)
        session.execute(delete(BusyRow).where(BusyRow.customer_id == customer_id))
        busy = [
            {
                "customer_id": customer_id,
                "start_at": datetime.fromtimestamp(int(s), UTC),
                "end_at": datetime.fromtimestamp(int(e), UTC),
                "all_day": bool(a),
            }
            for (s, e), a in zip(parsed.busy.tolist(), parsed.all_day.tolist(), strict=True)
        ]
        for part in store.chunks(busy, _INSERT_CHUNK):
            session.execute(insert(_BUSY), list(part))
        session.flush()
        return cal

    def _publish(
        self,
        unit: Unit,
        row: CustomerRow,
        now: datetime,
        ref: dict[str, Any] | None,
        actor: str | None,
    ) -> None:
        """A new customer version and its ``CustomerProfileUpdated`` (calendar change)."""
        store.write_changes(row, {}, now)
        unit.session.flush()
        payload = state.profile_payload(
            row.customer_id, version=row.version, changes={"calendar": ref}, actor=actor
        )
        key = state.customer_key(row.customer_id)
        unit.publish(NewEvent(state.PROFILE_UPDATED, key, payload, occurred_at=now))


def status_of(cal: CalendarRow) -> dict[str, Any]:
    """The ``CalendarStatus`` fields of a stored calendar (ISO times, UTC)."""
    return {
        "kind": cal.kind,
        "status": cal.status,
        "error": cal.error,
        "checked_at": _iso(cal.checked_at),
        "fetched_at": _iso(cal.fetched_at),
        "instances": cal.instances,
        "floating_times": bool(cal.floating_times),
    }


def _calendar_row(session: Session, customer_id: str) -> CalendarRow | None:
    # The raw file can be 5 MiB: load it only when it is written.
    return session.get(CalendarRow, customer_id, options=[defer(CalendarRow.ics)])


def _upload_sha(cal: CalendarRow) -> str | None:
    return cal.sha256 if cal.kind == UPLOAD else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _split(rows: list[Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Busy rows (customer_id, start, end, all_day; times in epoch seconds), grouped by
    customer, as ``(busy, all_day)`` arrays per customer, each sorted and merged."""
    if not rows:
        return {}
    ids = np.array([r[0] for r in rows], dtype=object)
    table = np.array([(r[1], r[2]) for r in rows], dtype=np.int64)
    flags = np.array([bool(r[3]) for r in rows], dtype=bool)
    # Rows come ordered by customer: each one's rows are one contiguous run.
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {str(ids[a]): _merged(table[a:b], flags[a:b]) for a, b in zip(starts, ends, strict=True)}


def _merged(busy: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, merged intervals (touching ones joined) and their any-all-day flags.
    Stored rows already are (``parse_busy`` merged them); this keeps the promise to the
    features whatever wrote the rows."""
    order = np.lexsort((busy[:, 1], busy[:, 0]))
    busy, flags = busy[order], flags[order]
    reach = np.maximum.accumulate(busy[:, 1])
    first = np.flatnonzero(np.r_[True, busy[1:, 0] > reach[:-1]])
    merged = np.column_stack([busy[first, 0], np.maximum.reduceat(busy[:, 1], first)])
    return merged.astype(np.int64), np.logical_or.reduceat(flags, first)
