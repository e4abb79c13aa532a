"""A customer's delivery attempts: one at a time (idempotent on the client's key) or in
bulk (checked whole first, then short units; each row keyed by its content, so a stopped
load is finished by running it again). ``CustomerPart`` takes these methods in."""

from __future__ import annotations

import builtins
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from foresight.apps.delivery import state, store
from foresight.apps.delivery.checks import window_problem
from foresight.apps.delivery.schemas import DeliverySettings, attempt_frame_rows
from foresight.apps.delivery.schemas_customers import (
    Attempt,
    AttemptIn,
    AttemptWeather,
)
from foresight.apps.delivery.tables import AttemptRow
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict, InvalidInput, NotFound
from foresight.platform.events import EventLog, NewEvent

FUTURE_SLACK = timedelta(minutes=5)  # clocks differ: an attempt may be this far "ahead"
BULK_UNIT_ROWS = 2000  # attempts per unit in a bulk load: short units, few round trips
MAX_LIMIT = 1000


class AttemptWrites:
    """Record and read attempts; every write is one unit of the event log."""

    db: Database
    log: EventLog
    settings: DeliverySettings
    clock: Callable[[], datetime]

    def add_attempt(
        self,
        customer_id: str,
        body: AttemptIn,
        *,
        source: str = "api",
        weather: AttemptWeather | None = None,
    ) -> Attempt:
        """Record one attempt. A repeated ``idempotency_key`` returns the stored attempt
        and changes nothing."""
        self._check_attempt(body)
        payload = state.attempt_payload(
            customer_id,
            attempted_at=body.attempted_at,
            window_start=body.window_start,
            window_end=body.window_end,
            delivered=body.delivered,
            failure_reason=body.failure_reason,
            request_id=str(body.request_id) if body.request_id else None,
            precip_mm=weather.precip_mm if weather else None,
            temp_c=weather.temp_c if weather else None,
            weather_source=weather.source if weather else None,
            source=source,
        )
        ikey = _attempt_key(customer_id, body.idempotency_key)
        with self.log.atomic() as unit:
            row = store.live_row(unit.session, customer_id)
            now = self.clock()
            # The offset is the attempt's key, so the event comes first here.
            result = unit.publish(
                NewEvent(
                    state.DELIVERY_ATTEMPTED,
                    state.customer_key(customer_id),
                    payload,
                    occurred_at=now,
                    idempotency_key=ikey,
                )
            )
            if not result.created:
                stored = unit.session.get(AttemptRow, result.offset)
                if stored is None:  # pragma: no cover - keys are namespaced per customer
                    raise Conflict("idempotency_key was used for another event; send a new one")
                return store.attempt_out(stored)
            values = store.attempt_values(result.offset, payload)
            store.insert_attempts(unit.session, [values])
            row.attempts, row.state_version, row.updated_at = (
                row.attempts + 1,
                row.state_version + 1,
                now,
            )
            return Attempt(**values)

    def add_attempts(self, frame: pd.DataFrame, *, source: str) -> int:
        """Record many attempts (columns ``customer_id, attempted_at, window_start,
        window_end, delivered, failure_reason``; optional ``request_id, precip_mm, temp_c,
        weather_source``). Every row is checked first (the first 50 errors are listed and
        nothing is written); then one unit per ~2,000 rows. Returns the rows recorded; rows
        stored before (an earlier run of the same file) are skipped and not counted."""
        payloads = attempt_frame_rows(
            frame,
            source=source,
            latest=self.clock() + FUTURE_SLACK,
            min_minutes=self.settings.min_window_minutes,
            max_hours=self.settings.max_window_hours,
        )
        ids = sorted({p["customer_id"] for p in payloads})
        with self.db.session() as session:
            live = store.live_ids(session, ids)
        missing = [i for i in ids if i not in live]
        if missing:
            raise InvalidInput(
                f"{len(missing)} customers are unknown or deleted, e.g. {missing[:5]}; "
                "create them first; nothing was recorded",
                details=[
                    {"field": "customer_id", "message": f"no customer {m!r}"} for m in missing[:50]
                ],
            )
        # One unit per chunk keeps units short; each row's key is its content, so a load
        # stopped part-way is finished by running it again (stored rows are skipped).
        return sum(
            self._record_chunk(payloads[start : start + BULK_UNIT_ROWS])
            for start in range(0, len(payloads), BULK_UNIT_ROWS)
        )

    def _record_chunk(self, payloads: builtins.list[dict[str, Any]]) -> int:
        with self.log.atomic() as unit:
            counts = Counter(p["customer_id"] for p in payloads)
            gone = set(counts) - store.live_ids(unit.session, counts)
            if gone:
                raise NotFound(f"customers {sorted(gone)[:5]} were deleted while attempts loaded")
            now = self.clock()
            results = unit.publish_many(
                NewEvent(
                    state.DELIVERY_ATTEMPTED,
                    state.customer_key(p["customer_id"]),
                    p,
                    occurred_at=now,
                    idempotency_key=_content_key(p),
                )
                for p in payloads
            )
            new = [(r, p) for r, p in zip(results, payloads, strict=True) if r.created]
            store.insert_attempts(unit.session, [store.attempt_values(r.offset, p) for r, p in new])
            store.count_attempts(unit.session, Counter(p["customer_id"] for _, p in new), now)
            return len(new)

    def attempts(self, customer_id: str, limit: int = 100) -> builtins.list[Attempt]:
        """A customer's attempts, newest first."""
        check_limit(limit)
        with self.db.session() as session:
            store.live_row(session, customer_id)  # 404 for an unknown or deleted customer
        return [store.attempt_out(r) for r in store.attempts_of(self.db, customer_id, limit=limit)]

    # ---- events and rebuild --------------------------------------------------------------
    def _check_attempt(self, body: AttemptIn) -> None:
        problem = window_problem(
            body.window_start,
            body.window_end,
            min_minutes=self.settings.min_window_minutes,
            max_hours=self.settings.max_window_hours,
        )
        field = "window_end"
        latest = self.clock() + FUTURE_SLACK
        if problem is None and body.attempted_at > latest:
            field, problem = "attempted_at", f"must not be after now + 5 min ({latest.isoformat()})"
        if problem:
            raise InvalidInput(
                f"{field}: {problem}", details=[{"field": field, "message": problem}]
            )


def _attempt_key(customer_id: str, key: str | None) -> str | None:
    """The event's idempotency key: the client's key, per customer (hashed to fit)."""
    if key is None:
        return None
    digest = hashlib.sha256(f"{customer_id}\n{key}".encode()).hexdigest()
    return f"delivery.attempt:{digest}"


def _content_key(payload: Mapping[str, Any]) -> str:
    """A bulk-loaded attempt's idempotency key: who, when, which window, what outcome."""
    fields = ("customer_id", "attempted_at", "window_start", "window_end", "delivered")
    text = "\n".join(str(payload[f]) for f in fields)
    return f"delivery.attempt:bulk:{hashlib.sha256(text.encode()).hexdigest()}"


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be 1 to {MAX_LIMIT}, got {limit!r}",
            details=[{"field": "limit", "message": f"1 to {MAX_LIMIT}"}],
        )
