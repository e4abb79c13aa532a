"""A customer as a fold of its events (pure: no database, no clock).

Two event types change state, both under the key ``delivery/{customer_id}``:
``delivery.CustomerProfileUpdated`` (create, update, delete, import row, calendar change)
and ``delivery.DeliveryAttempted``. ``delivery.PredictionRequested`` is telemetry and
leaves the state alone. ``fold(read_key(...))`` gives what the projection tables hold;
``CustomerPart.rebuild`` writes it back.

Times in payloads are ISO 8601 strings in UTC; an event's ``occurred_at`` is when the
change was made (the customer's ``created_at``/``updated_at``/``deleted_at`` come from it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

PROFILE_UPDATED = "delivery.CustomerProfileUpdated"
DELIVERY_ATTEMPTED = "delivery.DeliveryAttempted"
PREDICTION_REQUESTED = "delivery.PredictionRequested"
EVENT_TYPES = (PROFILE_UPDATED, DELIVERY_ATTEMPTED, PREDICTION_REQUESTED)
STATE_EVENTS = (PROFILE_UPDATED, DELIVERY_ATTEMPTED)  # kept for good: state is rebuilt from them
KEY_PREFIX = "delivery/"
PROFILE_FIELDS = (
    "display_name",
    "timezone",
    "zone",
    "lat",
    "lon",
    "country",
    "subdivision",
    "household_type",
    "preferences",
)
MAX_PREDICTION_WINDOWS = 20


class EventLike(Protocol):
    """What ``apply`` reads of an event (``foresight.platform.events.Event`` fits)."""

    @property
    def offset(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt as its event tells it; ``event_offset`` is the event's offset."""

    event_offset: int
    attempted_at: datetime
    window_start: datetime
    window_end: datetime
    delivered: bool
    failure_reason: str | None
    request_id: str | None
    precip_mm: float | None
    temp_c: float | None
    weather_source: str | None
    source: str


@dataclass(frozen=True, slots=True)
class CustomerState:
    """A customer after some of its events. ``version`` counts profile changes,
    ``state_version`` every state event (attempts and calendar changes included)."""

    customer_id: str
    timezone: str
    zone: str
    country: str
    household_type: str = "unknown"
    display_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    subdivision: str | None = None
    preferences: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    state_version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    calendar_ref: dict[str, Any] | None = None
    attempts: tuple[AttemptRecord, ...] = ()

    def profile(self) -> dict[str, Any]:
        """The profile fields by their stored names."""
        return {name: getattr(self, name) for name in PROFILE_FIELDS}


def customer_key(customer_id: str) -> str:
    """The event key of a customer: ``delivery/{customer_id}``."""
    return KEY_PREFIX + customer_id


def customer_of_key(key: str) -> str | None:
    """The customer id of an event key, or None for a key that is not a customer's."""
    return key[len(KEY_PREFIX) :] if key.startswith(KEY_PREFIX) else None


def iso(value: datetime) -> str:
    """A timezone-aware datetime as the UTC ISO string payloads hold."""
    if value.tzinfo is None:
        raise ValueError(f"payload times must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).isoformat()


def profile_payload(
    customer_id: str,
    *,
    version: int,
    changes: Mapping[str, Any],
    actor: str | None,
    created: bool = False,
    deleted: bool = False,
) -> dict[str, Any]:
    """The payload of a ``CustomerProfileUpdated``: the new ``version`` and the changed
    fields with their new values (all of them on create; a calendar change is
    ``{"calendar": {kind, sha256, url?}}`` or ``{"calendar": None}``)."""
    unknown = set(changes) - {*PROFILE_FIELDS, "calendar"}
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    payload: dict[str, Any] = {
        "customer_id": customer_id,
        "version": version,
        "changes": dict(changes),
        "actor": actor,
    }
    if created:
        payload["created"] = True
    if deleted:
        payload["deleted"] = True
    return payload


def attempt_payload(
    customer_id: str,
    *,
    attempted_at: datetime,
    window_start: datetime,
    window_end: datetime,
    delivered: bool,
    failure_reason: str | None,
    request_id: str | None = None,
    precip_mm: float | None = None,
    temp_c: float | None = None,
    weather_source: str | None = None,
    source: str = "api",
) -> dict[str, Any]:
    """The payload of a ``DeliveryAttempted``. The weather of the attempt's hour and its
    source ride along, so a rebuild reproduces the attempt row field for field."""
    return {
        "customer_id": customer_id,
        "attempted_at": iso(attempted_at),
        "window_start": iso(window_start),
        "window_end": iso(window_end),
        "delivered": bool(delivered),
        "failure_reason": failure_reason,
        "request_id": request_id,
        "precip_mm": precip_mm,
        "temp_c": temp_c,
        "weather_source": weather_source,
        "source": source,
    }


def prediction_payload(
    *,
    request_id: str,
    kind: str,
    windows: Sequence[tuple[datetime, datetime, float]],
    model_version: str | None,
    fallback: str | None,
    basis: str,
    customer_id: str | None = None,
    job_id: str | None = None,
) -> dict[str, Any]:
    """The payload of a ``PredictionRequested``; at most the first 20 windows are kept,
    as ``[start, end, p]`` with UTC ISO times."""
    payload: dict[str, Any] = {
        "request_id": request_id,
        "kind": kind,
        "windows": [
            [iso(start), iso(end), float(p)] for start, end, p in windows[:MAX_PREDICTION_WINDOWS]
        ],
        "model_version": model_version,
        "fallback": fallback,
        "basis": basis,
    }
    if customer_id is not None:
        payload["customer_id"] = customer_id
    if job_id is not None:
        payload["job_id"] = job_id
    return payload


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def apply(state: CustomerState | None, event: EventLike) -> CustomerState | None:
    """The state after ``event``. Only a create may start a customer; events of other
    types (predictions) leave the state as it was. Raises ``ValueError`` on an event that
    cannot follow ``state`` (the log is then not this customer's history)."""
    if event.type == PROFILE_UPDATED:
        return _profile(state, event)
    if event.type == DELIVERY_ATTEMPTED:
        if state is None:
            raise ValueError(f"event {event.offset}: an attempt before the customer exists")
        return replace(
            state,
            attempts=(*state.attempts, _attempt(event)),
            state_version=state.state_version + 1,
            updated_at=event.occurred_at,
        )
    return state


def _profile(state: CustomerState | None, event: EventLike) -> CustomerState:
    payload = event.payload
    changes = dict(payload.get("changes", {}))
    calendar = changes.pop("calendar", ...)
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"event {event.offset}: changes unknown fields {sorted(unknown)}")
    if payload.get("created"):
        # A deleted id stays taken (its kept events are still under the key).
        if state is not None:
            raise ValueError(f"event {event.offset}: created a customer that exists")
        state = CustomerState(
            customer_id=payload["customer_id"],
            timezone=changes["timezone"],
            zone=changes["zone"],
            country=changes["country"],
            created_at=event.occurred_at,
        )
    elif state is None:
        raise ValueError(f"event {event.offset}: a profile change before the customer exists")
    state = replace(
        state,
        **changes,
        version=int(payload["version"]),
        state_version=state.state_version + 1,
        updated_at=event.occurred_at,
    )
    if calendar is not ...:
        state = replace(state, calendar_ref=calendar)
    if payload.get("deleted"):
        # Deleting erases the calendar (busy intervals and raw file) with it.
        state = replace(state, deleted=True, deleted_at=event.occurred_at, calendar_ref=None)
    return state


def _attempt(event: EventLike) -> AttemptRecord:
    p = event.payload
    return AttemptRecord(
        event_offset=event.offset,
        attempted_at=_time(p["attempted_at"]),
        window_start=_time(p["window_start"]),
        window_end=_time(p["window_end"]),
        delivered=bool(p["delivered"]),
        failure_reason=p.get("failure_reason"),
        request_id=p.get("request_id"),
        precip_mm=p.get("precip_mm"),
        temp_c=p.get("temp_c"),
        weather_source=p.get("weather_source"),
        source=p.get("source", "api"),
    )


class Folder:
    """``fold`` one event at a time: ``add`` events of one key in log order, then
    ``result()``. Attempts are collected in a list, not re-tupled per event, so thousands
    of them fold in linear time; the result equals applying the events one by one."""

    def __init__(self) -> None:
        self._state: CustomerState | None = None
        self._attempts: list[AttemptRecord] = []

    def add(self, event: EventLike) -> None:
        """Take the next event of this key."""
        state = self._state
        if event.type == DELIVERY_ATTEMPTED and state is not None:
            self._attempts.append(_attempt(event))
            self._state = replace(
                state, state_version=state.state_version + 1, updated_at=event.occurred_at
            )
        elif event.type in STATE_EVENTS:
            self._state = apply(self.result(), event)

    def result(self) -> CustomerState | None:
        """The state after every event added so far."""
        if self._attempts and self._state is not None:
            self._state = replace(self._state, attempts=(*self._state.attempts, *self._attempts))
            self._attempts = []
        return self._state


def fold(events: Iterable[EventLike]) -> CustomerState | None:
    """The customer that ``events`` (one key's, in log order) describe, or None if they
    never created one."""
    folder = Folder()
    for event in events:
        folder.add(event)
    return folder.result()
