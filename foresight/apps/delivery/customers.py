"""Customers, their attempts and their events: every write is one unit of the event log.

Each write runs in one ``with events.atomic() as unit:`` block: read the row (the unit
holds the log's write lock, so no other unit can change it meanwhile), check, write the
row, publish the event. Any exception rolls back both, so a failed write leaves the
customer exactly as it was. ``rebuild`` replays the log into the tables.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from foresight.apps.delivery import state, store
from foresight.apps.delivery.attempts import AttemptWrites, check_limit
from foresight.apps.delivery.schemas import (
    DeliverySettings,
    customer_csv_rows,
)
from foresight.apps.delivery.schemas_customers import (
    Customer,
    CustomerIn,
    CustomerPatch,
    CustomerSummary,
    EventOut,
    ImportResponse,
)
from foresight.apps.delivery.tables import CustomerRow
from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict, InvalidInput, did_you_mean
from foresight.platform.events import EventLog, NewEvent

MAX_OFFSET = 2**31


class PreconditionFailed(Conflict):
    """``If-Match`` named a version the customer is no longer at (HTTP 412). The platform
    has no such error; the API maps any ``ForesightError`` by its ``status``."""

    status = 412


class CustomerPart(AttemptWrites):
    """Create, read, change and delete customers; record attempts; list events; rebuild."""

    def __init__(
        self,
        db: Database,
        events: EventLog,
        settings: DeliverySettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.log, self.settings, self.clock = db, events, settings, clock

    # ---- profile -------------------------------------------------------------------------
    def create(self, body: CustomerIn, actor: str | None = None) -> Customer:
        """Store a new customer (409 if the id exists, deleted or not)."""
        cid, profile = body.customer_id, body.profile(self.settings.country)
        with self.log.atomic() as unit:
            row = unit.session.get(CustomerRow, cid)
            if row is not None and row.deleted_at is not None:
                raise Conflict(
                    f"customer {cid!r} was deleted on {row.deleted_at.date().isoformat()}; "
                    "a deleted id stays taken, choose another"
                )
            if row is not None:
                raise Conflict(f"customer {cid!r} exists; PATCH it")
            now = self.clock()
            row = CustomerRow(customer_id=cid, **profile, **store.new_counters(now))
            unit.session.add(row)
            unit.session.flush()
            unit.publish(self._profile_event(cid, now, 1, profile, actor, created=True))
            return store.customer_out(row)

    def get(self, customer_id: str) -> Customer:
        """One live customer (404 with a suggestion if unknown, or when it was deleted)."""
        with self.db.session() as session:
            return store.customer_out(store.live_row(session, customer_id))

    def update(
        self,
        customer_id: str,
        patch: CustomerPatch,
        *,
        if_match: int | None = None,
        actor: str | None = None,
    ) -> Customer:
        """Change the fields sent (412 if ``if_match`` is not the stored version). A patch
        that changes nothing returns the customer as it is, with no new version."""
        wanted = patch.changes()
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            if if_match is not None and if_match != row.version:
                raise PreconditionFailed(
                    f"customer {customer_id!r} is at version {row.version}, not {if_match}"
                )
            changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
            if changes:
                now = self.clock()
                store.write_changes(row, changes, now)
                unit.session.flush()
                event = self._profile_event(customer_id, now, row.version, changes, actor)
                unit.publish(event)
            return store.customer_out(row)

    def delete(self, customer_id: str, actor: str | None = None) -> None:
        """Mark the customer deleted and erase its calendar; its events stay (audit and
        rebuild), its attempts stay out of training."""
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            now = self.clock()
            store.write_changes(row, {}, now)
            row.deleted_at = now
            store.erase_calendar(unit.session, customer_id)
            unit.session.flush()
            unit.publish(
                self._profile_event(customer_id, now, row.version, {}, actor, deleted=True)
            )

    def import_csv(self, data: bytes, actor: str | None = None) -> ImportResponse:
        """Create or update one customer per CSV row: all rows, or none if any is bad
        (the first 50 row errors are listed). Only the columns the file has are compared,
        so a file without ``preferences`` leaves stored preferences alone."""
        rows, columns = customer_csv_rows(data)
        created = updated = 0
        with self.log.atomic() as unit:
            existing = store.customer_rows(unit.session, [b.customer_id for _, b in rows])
            gone = [
                {"row": line, "field": "customer_id", "message": "this customer was deleted"}
                for line, b in rows
                if (r := existing.get(b.customer_id)) is not None and r.deleted_at is not None
            ]
            if gone:
                raise InvalidInput(
                    f"{len(gone)} rows name deleted customers; nothing imported", details=gone[:50]
                )
            now, new_rows, events = self.clock(), [], []
            for _, body in rows:
                profile, row = body.profile(self.settings.country), existing.get(body.customer_id)
                if row is None:
                    new_rows.append(
                        {"customer_id": body.customer_id, **profile, **store.new_counters(now)}
                    )
                    events.append(
                        self._profile_event(body.customer_id, now, 1, profile, actor, created=True)
                    )
                    created += 1
                    continue
                changes = {
                    k: v for k, v in profile.items() if k in columns and getattr(row, k) != v
                }
                if changes:
                    store.write_changes(row, changes, now)
                    events.append(
                        self._profile_event(row.customer_id, now, row.version, changes, actor)
                    )
                    updated += 1
            unit.session.flush()
            store.insert_customers(unit.session, new_rows)
            unit.publish_many(events)
        unchanged = len(rows) - created - updated
        message = f"{len(rows)} rows: {created} created, {updated} updated, {unchanged} unchanged"
        return ImportResponse(
            rows=len(rows), created=created, updated=updated, unchanged=unchanged, message=message
        )

    # ---- attempts ------------------------------------------------------------------------
    def events(
        self,
        customer_id: str,
        *,
        since: int = 0,
        limit: int = 100,
        types: Collection[str] | None = None,
    ) -> builtins.list[EventOut]:
        """A customer's events after offset ``since``, oldest first."""
        check_limit(limit)
        for name in types or ():
            if name not in state.EVENT_TYPES:
                raise InvalidInput(
                    f"unknown event type {name!r}{did_you_mean(name, state.EVENT_TYPES)}",
                    details=[{"field": "types", "message": f"one of {list(state.EVENT_TYPES)}"}],
                )
        self.get(customer_id)
        found = self.log.read_key(
            state.customer_key(customer_id),
            since=since,
            limit=limit,
            types=None if types is None else builtins.list(types),
        )
        return [
            EventOut(offset=e.offset, type=e.type, occurred_at=e.occurred_at, payload=e.payload)
            for e in found
        ]

    def rebuild(self, customer_id: str | None = None) -> int:
        """Replay the log into the customer and attempt tables (one customer, or all);
        returns how many customers were written. Attempts keep their event offsets, so
        the rows come back exactly. Calendars are not events and stay as they are."""
        # The unit holds the log's write lock: no event can land between reading the log
        # and writing the rows, so the tables match the log when it commits.
        with self.log.atomic() as unit:
            states = store.replay(self.log, customer_id)
            store.write_states(unit.session, states, customer_id)
            return len(states)

    # ---- list ------------------------------------------------------------------------------
    def list(
        self,
        *,
        zone: str | None = None,
        household_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[CustomerSummary]:
        """Live customers by id, optionally of one zone and household type."""
        check_limit(limit)
        if isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
            raise InvalidInput(
                f"offset must be 0 to {MAX_OFFSET}, got {offset!r}",
                details=[{"field": "offset", "message": "0 to 2**31"}],
            )
        rows = store.list_customers(
            self.db, zone=zone, household_type=household_type, limit=limit, offset=offset
        )
        return [store.summary_out(r) for r in rows]

    # ---- helpers ---------------------------------------------------------------------------
    def _profile_event(
        self,
        cid: str,
        now: datetime,
        version: int,
        changes: Mapping[str, Any],
        actor: str | None,
        *,
        created: bool = False,
        deleted: bool = False,
    ) -> NewEvent:
        payload = state.profile_payload(
            cid, version=version, changes=changes, actor=actor, created=created, deleted=deleted
        )
        return NewEvent(state.PROFILE_UPDATED, state.customer_key(cid), payload, occurred_at=now)
