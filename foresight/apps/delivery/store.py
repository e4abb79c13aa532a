"""Queries and writes over the delivery projection (tables in :mod:`tables`).

Reads open their own short transaction on a ``Database``; writes take the ``Session`` of
the caller's event-log unit (``events.atomic()``), so a row and its event commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from foresight.apps.delivery import state
from foresight.apps.delivery.schemas_customers import Attempt, Customer, CustomerSummary
from foresight.apps.delivery.tables import (
    ATTEMPTS,
    CUSTOMERS,
    AttemptRow,
    BusyRow,
    CalendarRow,
    CustomerRow,
)
from foresight.platform.db.engine import Database
from foresight.platform.errors import NotFound, did_you_mean
from foresight.platform.events import EventLog

IN_CHUNK = 500  # ids per ``IN (…)``: far below every backend's bind-parameter limit
ATTEMPT_COLUMNS = (
    "event_offset",
    "customer_id",
    "attempted_at",
    "window_start",
    "window_end",
    "delivered",
    "failure_reason",
    "request_id",
    "precip_mm",
    "temp_c",
    "weather_source",
    "source",
)
_EPOCH = pd.Timestamp(0, tz=UTC)


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- reads ---------------------------------------------------------------------------------
def live_row(session: Session, customer_id: str) -> CustomerRow:
    """The live row of ``customer_id``, or a NotFound that says why (with a suggestion
    for an unknown id, the date for a deleted one)."""
    row = session.get(CustomerRow, customer_id)
    if row is None:
        hint = did_you_mean(customer_id, similar_ids(session, customer_id))
        raise NotFound(f"no customer {customer_id!r}{hint}")
    if row.deleted_at is not None:
        day = row.deleted_at.date().isoformat()
        raise NotFound(f"customer {customer_id!r} was deleted on {day}")
    return row


def customer_rows(session: Session, customer_ids: Iterable[str]) -> dict[str, CustomerRow]:
    """The stored rows (deleted ones included) of ``customer_ids``, by id."""
    ids = sorted(set(customer_ids))
    found: dict[str, CustomerRow] = {}
    for part in chunks(ids):
        query = select(CustomerRow).where(CustomerRow.customer_id.in_(part))
        found.update({row.customer_id: row for row in session.scalars(query)})
    return found


def live_ids(session: Session, customer_ids: Iterable[str]) -> set[str]:
    """Which of ``customer_ids`` are stored and not deleted (ids only, no row objects)."""
    found: set[str] = set()
    for part in chunks(sorted(set(customer_ids))):
        query = select(CustomerRow.customer_id).where(
            CustomerRow.customer_id.in_(part), CustomerRow.deleted_at.is_(None)
        )
        found.update(session.scalars(query))
    return found


def list_customers(
    db: Database,
    *,
    zone: str | None = None,
    household_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CustomerRow]:
    """Live customers ordered by id, optionally of one zone and household type."""
    query = select(CustomerRow).where(CustomerRow.deleted_at.is_(None))
    if zone is not None:
        query = query.where(CustomerRow.zone == zone)
    if household_type is not None:
        query = query.where(CustomerRow.household_type == household_type)
    query = query.order_by(CustomerRow.customer_id).limit(limit).offset(offset)
    with db.session() as session:
        return list(session.scalars(query))


def live_zones(db: Database) -> list[str]:
    """The address zones of live customers, each once."""
    query = select(CustomerRow.zone).where(CustomerRow.deleted_at.is_(None)).distinct()
    with db.session() as session:
        return sorted(str(z) for z in session.scalars(query))


def similar_ids(session: Session, customer_id: str, *, limit: int = 2000) -> list[str]:
    """Live ids that could be a typo of ``customer_id`` (same first character, length
    within one), at most ``limit``: enough for a "did you mean" without reading them all."""
    size = len(customer_id)
    query = (
        select(CustomerRow.customer_id)
        .where(
            CustomerRow.deleted_at.is_(None),
            CustomerRow.customer_id.startswith(customer_id[:1], autoescape=True),
            func.length(CustomerRow.customer_id).between(size - 1, size + 1),
        )
        .order_by(CustomerRow.customer_id)
        .limit(limit)
    )
    return list(session.scalars(query))


def attempts_of(db: Database, customer_id: str, *, limit: int = 100) -> list[AttemptRow]:
    """One customer's attempts, newest first (ties: the later event first)."""
    query = (
        select(AttemptRow)
        .where(AttemptRow.customer_id == customer_id)
        .order_by(AttemptRow.attempted_at.desc(), AttemptRow.event_offset.desc())
        .limit(limit)
    )
    with db.session() as session:
        return list(session.scalars(query))


def attempts_frame(
    db: Database,
    customer_ids: Sequence[str] | None = None,
    *,
    before: datetime | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Attempts (of ``customer_ids``, or of everyone) as one frame with
    ``ATTEMPT_COLUMNS``, sorted by customer, ``attempted_at`` and offset; times are UTC.
    Deleted customers' attempts are left out unless ``include_deleted``."""
    base = select(*(getattr(AttemptRow, c) for c in ATTEMPT_COLUMNS))
    if not include_deleted:
        live = select(CustomerRow.customer_id).where(CustomerRow.deleted_at.is_(None))
        base = base.where(AttemptRow.customer_id.in_(live))
    if before is not None:
        base = base.where(AttemptRow.attempted_at < before)
    if customer_ids is None:
        frames = [db.frame(base)]
    else:
        ids = sorted(set(customer_ids))
        frames = [db.frame(base.where(AttemptRow.customer_id.in_(part))) for part in chunks(ids)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return _empty_attempts()
    for column in ("attempted_at", "window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["delivered"] = frame["delivered"].astype(bool)
    order = ["customer_id", "attempted_at", "event_offset"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def _empty_attempts() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ATTEMPT_COLUMNS})
    for column in ("attempted_at", "window_start", "window_end"):
        frame[column] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame.astype({"event_offset": np.int64, "delivered": bool})


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 seconds since the epoch (whatever the frame's unit)."""
    return ((values - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


@dataclass(frozen=True, slots=True)
class AttemptArrays:
    """One customer's attempts as NumPy arrays, oldest first; times are UTC seconds."""

    event_offset: np.ndarray
    at: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    delivered: np.ndarray
    precip_mm: np.ndarray
    temp_c: np.ndarray


def attempt_arrays(frame: pd.DataFrame) -> dict[str, AttemptArrays]:
    """Split attempts by customer into arrays, each customer's oldest first (for training
    and batches: no per-row Python objects). ``frame`` is an ``attempts_frame`` or any
    frame with its time, id and outcome columns (the simulator's); a missing offset reads
    −1 and missing weather NaN."""
    if frame.empty:
        return {}
    frame = frame.sort_values(["customer_id", "attempted_at"], kind="stable")
    nothing = pd.Series(np.nan, index=frame.index)
    ids = frame["customer_id"].to_numpy()
    offsets = frame["event_offset"] if "event_offset" in frame else pd.Series(-1, frame.index)
    columns = {
        "event_offset": offsets.to_numpy(np.int64),
        "at": epoch_seconds(frame["attempted_at"]),
        "window_start": epoch_seconds(frame["window_start"]),
        "window_end": epoch_seconds(frame["window_end"]),
        "delivered": frame["delivered"].to_numpy(bool),
        "precip_mm": pd.to_numeric(frame.get("precip_mm", nothing)).to_numpy(np.float64),
        "temp_c": pd.to_numeric(frame.get("temp_c", nothing)).to_numpy(np.float64),
    }
    # Sorted by customer: each one's rows are one contiguous slice.
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {
        str(ids[a]): AttemptArrays(**{k: v[a:b] for k, v in columns.items()})
        for a, b in zip(starts, ends, strict=True)
    }


# ---- writes (inside the caller's unit) -------------------------------------------------------
def insert_attempts(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert attempt rows (dicts with ``ATTEMPT_COLUMNS``), a chunk per statement."""
    # Core executemany, not the ORM's bulk path: several times faster for thousands of rows.
    for part in chunks(list(rows), 5000):
        session.execute(insert(ATTEMPTS), list(part))


def count_attempts(session: Session, counts: Mapping[str, int], now: datetime) -> None:
    """Add ``counts[id]`` attempts to each customer: ``attempts`` and ``state_version``
    grow by that much (one state event per attempt), ``updated_at`` becomes ``now``."""
    if not counts:
        return
    stmt = (
        update(CUSTOMERS)
        .where(CUSTOMERS.c.customer_id == bindparam("cid"))
        .values(
            attempts=CUSTOMERS.c.attempts + bindparam("n"),
            state_version=CUSTOMERS.c.state_version + bindparam("n"),
            updated_at=bindparam("now"),
        )
    )
    params = [{"cid": cid, "n": n, "now": now} for cid, n in counts.items()]
    session.execute(stmt, params)


def erase_calendar(session: Session, customer_id: str) -> None:
    """Delete a customer's calendar: the raw file, the feed and every busy interval."""
    session.execute(delete(BusyRow).where(BusyRow.customer_id == customer_id))
    session.execute(delete(CalendarRow).where(CalendarRow.customer_id == customer_id))


def clear_projection(session: Session, customer_ids: Sequence[str] | None) -> None:
    """Delete the customer and attempt rows of ``customer_ids`` (None: of everyone), the
    first step of a rebuild. Calendars are not events, so they stay."""
    if customer_ids is None:
        session.execute(delete(AttemptRow))
        session.execute(delete(CustomerRow))
        return
    for part in chunks(sorted(set(customer_ids))):
        session.execute(delete(AttemptRow).where(AttemptRow.customer_id.in_(part)))
        session.execute(delete(CustomerRow).where(CustomerRow.customer_id.in_(part)))


def insert_customers(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert customer rows (dicts of ``CustomerRow`` columns)."""
    for part in chunks(list(rows), 5000):
        session.execute(insert(CUSTOMERS), list(part))


def new_counters(now: datetime) -> dict[str, Any]:
    """The counters and times of a customer row created at ``now``."""
    return {
        "version": 1,
        "attempts": 0,
        "state_version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }


def write_changes(row: CustomerRow, changes: Mapping[str, Any], now: datetime) -> None:
    """Set the changed profile fields; a new ``version`` and ``state_version``."""
    for name, value in changes.items():
        setattr(row, name, value)
    row.version, row.state_version, row.updated_at = row.version + 1, row.state_version + 1, now


def attempt_values(offset: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The attempt row of a ``DeliveryAttempted`` payload stored at ``offset``."""
    values = {k: payload[k] for k in ATTEMPT_COLUMNS if k != "event_offset"}
    for name in ("attempted_at", "window_start", "window_end"):
        values[name] = datetime.fromisoformat(payload[name])
    return {**values, "event_offset": offset}


# ---- rebuild: the log replayed into the tables ----------------------------------------------
def replay(log: EventLog, customer_id: str | None) -> list[state.CustomerState]:
    """Fold the state events of one customer (or of every customer) from ``log``."""
    folders: dict[str, state.Folder] = {}
    since = 0
    while True:
        if customer_id is None:
            batch = log.read(since, limit=5000, types=state.STATE_EVENTS)
        else:
            key = state.customer_key(customer_id)
            batch = log.read_key(key, since=since, limit=5000, types=state.STATE_EVENTS)
        if not batch:
            break
        for event in batch:
            cid = state.customer_of_key(event.key)
            if cid is not None:
                folders.setdefault(cid, state.Folder()).add(event)
        since = batch[-1].offset
    return [s for s in (f.result() for f in folders.values()) if s is not None]


def write_states(
    session: Session, states: Sequence[state.CustomerState], customer_id: str | None
) -> None:
    """Replace the customer and attempt rows (of ``customer_id``, or all) by ``states``."""
    clear_projection(session, None if customer_id is None else [customer_id])
    customers = [
        {
            "customer_id": s.customer_id,
            **s.profile(),
            "version": s.version,
            "attempts": len(s.attempts),
            "state_version": s.state_version,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
            "deleted_at": s.deleted_at,
        }
        for s in states
    ]
    insert_customers(session, customers)
    names = [c for c in ATTEMPT_COLUMNS if c != "customer_id"]
    attempts = [
        {"customer_id": s.customer_id, **{n: getattr(a, n) for n in names}}
        for s in states
        for a in s.attempts
    ]
    insert_attempts(session, attempts)


# ---- response bodies ------------------------------------------------------------------------
def customer_out(row: CustomerRow) -> Customer:
    """The response body of a stored customer."""
    names = [n for n in Customer.model_fields if n != "address_zone"]
    return Customer.model_validate(
        {"address_zone": row.zone, **{n: getattr(row, n) for n in names}}
    )


def summary_out(row: CustomerRow) -> CustomerSummary:
    """One row of the customer list."""
    names = [n for n in CustomerSummary.model_fields if n != "address_zone"]
    return CustomerSummary(address_zone=row.zone, **{n: getattr(row, n) for n in names})


def attempt_out(row: AttemptRow) -> Attempt:
    """The response body of a stored attempt."""
    return Attempt(**{name: getattr(row, name) for name in ATTEMPT_COLUMNS})
