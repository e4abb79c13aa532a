"""The pure core of customers: the fold (``state.py``), checked event by event against
values written out by hand, and the request bodies' checks and messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from foresight.apps.delivery import state
from foresight.apps.delivery.schemas import AttemptIn, CustomerIn, CustomerPatch
from foresight.platform.events import Event

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
NY_SUMMER = timezone(timedelta(hours=-4))
PROFILE = {
    "display_name": "Ada",
    "timezone": "America/New_York",
    "zone": "Z01",
    "lat": 40.7,
    "lon": -74.0,
    "country": "US",
    "subdivision": None,
    "household_type": "commuter",
    "preferences": {"preferred": [], "blocked": []},
}


def event(offset: int, type_: str, payload: dict[str, Any], minutes: int = 0) -> Event:
    at = T0 + timedelta(minutes=minutes)
    return Event(offset, type_, "delivery/c-1", payload, at, at, f"ikey-{offset}")


def profile(offset: int, minutes: int = 0, **kw: Any) -> Event:
    return event(offset, state.PROFILE_UPDATED, state.profile_payload("c-1", **kw), minutes)


def attempt(offset: int, minutes: int, delivered: bool, **kw: Any) -> Event:
    start = datetime(2025, 6, 3, 14, 0, tzinfo=NY_SUMMER)
    payload = state.attempt_payload(
        "c-1",
        attempted_at=start + timedelta(minutes=20),
        window_start=start,
        window_end=start + timedelta(hours=2),
        delivered=delivered,
        failure_reason=None if delivered else "not_home",
        **kw,
    )
    return event(offset, state.DELIVERY_ATTEMPTED, payload, minutes)


def history() -> list[Event]:
    return [
        profile(1, 0, version=1, changes=PROFILE, actor="ops", created=True),
        profile(2, 5, version=2, changes={"zone": "Z02", "lat": None}, actor="ops"),
        attempt(3, 10, True, precip_mm=0.4, temp_c=21.5, weather_source="climatology"),
        event(4, state.PREDICTION_REQUESTED, {"request_id": "r"}, 11),
        attempt(5, 12, False, request_id="3f1c", source="import"),
        profile(
            6, 20, version=3, changes={"calendar": {"kind": "upload", "sha256": "ab"}}, actor=None
        ),
    ]


def test_fold_by_hand() -> None:
    s = state.fold(history())
    assert s is not None
    assert (s.customer_id, s.zone, s.lat, s.lon, s.display_name) == (
        "c-1",
        "Z02",
        None,
        -74.0,
        "Ada",
    )
    assert (s.timezone, s.country, s.household_type) == ("America/New_York", "US", "commuter")
    # Versions: three profile events; state_version: five state events (not the prediction).
    assert (s.version, s.state_version) == (3, 5)
    assert s.created_at == T0 and s.updated_at == T0 + timedelta(minutes=20)
    assert s.calendar_ref == {"kind": "upload", "sha256": "ab"}
    assert not s.deleted and s.deleted_at is None
    assert [a.event_offset for a in s.attempts] == [3, 5]
    first, second = s.attempts
    # 14:00 at UTC-4 is 18:00 UTC; payloads and records hold UTC.
    assert first.window_start == datetime(2025, 6, 3, 18, 0, tzinfo=UTC)
    assert first.window_end == datetime(2025, 6, 3, 20, 0, tzinfo=UTC)
    assert first.attempted_at == datetime(2025, 6, 3, 18, 20, tzinfo=UTC)
    assert (first.delivered, first.failure_reason, first.precip_mm, first.temp_c) == (
        True,
        None,
        0.4,
        21.5,
    )
    assert (first.weather_source, first.source) == ("climatology", "api")
    assert (second.delivered, second.failure_reason, second.request_id, second.source) == (
        False,
        "not_home",
        "3f1c",
        "import",
    )


def test_fold_equals_apply_one_event_at_a_time() -> None:
    stepwise: state.CustomerState | None = None
    for e in history():
        stepwise = state.apply(stepwise, e)
    assert stepwise == state.fold(history())


def test_delete_marks_and_drops_the_calendar() -> None:
    events = [*history(), profile(7, 30, version=4, changes={}, actor="ops", deleted=True)]
    s = state.fold(events)
    assert s is not None
    assert s.deleted and s.deleted_at == T0 + timedelta(minutes=30)
    assert s.calendar_ref is None
    assert (s.version, s.state_version, len(s.attempts)) == (4, 6, 2)


def test_prediction_events_leave_the_state_alone() -> None:
    s = state.fold(history()[:2])
    assert state.apply(s, event(9, state.PREDICTION_REQUESTED, {})) is s
    assert state.fold([event(9, state.PREDICTION_REQUESTED, {})]) is None
    assert state.fold([]) is None


@pytest.mark.parametrize(
    "events",
    [
        [attempt(1, 0, True)],  # an attempt before the customer exists
        [profile(1, version=2, changes={"zone": "Z9"}, actor=None)],  # an update before it
        [history()[0], history()[0]],  # created twice
        [
            event(
                1,
                state.PROFILE_UPDATED,
                {
                    "customer_id": "c-1",
                    "version": 1,
                    "created": True,
                    "changes": {**PROFILE, "colour": "red"},
                },
            )
        ],
    ],
)
def test_impossible_histories_are_refused(events: list[Event]) -> None:
    with pytest.raises(ValueError, match="event 1"):
        state.fold(events)


def test_payload_builders() -> None:
    assert state.customer_key("c-1") == "delivery/c-1"
    assert state.customer_of_key("delivery/c-1") == "c-1"
    assert state.customer_of_key("restaurant/c-1") is None
    with pytest.raises(ValueError, match="not profile fields"):
        state.profile_payload("c-1", version=1, changes={"colour": 1}, actor=None)
    payload = state.profile_payload("c-1", version=2, changes={"lat": 1.5}, actor="a")
    assert payload == {"customer_id": "c-1", "version": 2, "changes": {"lat": 1.5}, "actor": "a"}
    with pytest.raises(ValueError, match="timezone-aware"):
        state.iso(datetime(2025, 1, 1))
    start = datetime(2025, 11, 2, 1, 30, tzinfo=NY_SUMMER)
    windows = [(start + timedelta(hours=i), start + timedelta(hours=i + 1), 0.5) for i in range(25)]
    p = state.prediction_payload(
        request_id="r-1",
        kind="optimal_time",
        windows=windows,
        model_version="3",
        fallback=None,
        basis="model",
        customer_id="c-1",
    )
    assert len(p["windows"]) == 20
    assert p["windows"][0] == ["2025-11-02T05:30:00+00:00", "2025-11-02T06:30:00+00:00", 0.5]
    assert p["customer_id"] == "c-1" and "job_id" not in p
    assert state.STATE_EVENTS == (state.PROFILE_UPDATED, state.DELIVERY_ATTEMPTED)


GOOD = {
    "attempted_at": "2025-06-01T14:00:00Z",  # 10:00 in New York, inside the window
    "window_start": "2025-06-01T09:00:00-04:00",
    "window_end": "2025-06-01T11:00:00-04:00",
    "delivered": True,
}
NEW = {"customer_id": "c-1", "address_zone": "Z01", "timezone": "UTC"}
TWICE = {"days": ["mon", "mon"], "start": "09:00", "end": "09:00"}


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (
            CustomerIn,
            {"customer_id": "c-1", "address_zone": "Z01"},
            "timezone is required: an IANA name such as America/New_York",
        ),
        (CustomerIn, {**NEW, "timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
        (CustomerIn, {**NEW, "customer_id": "-x"}, "customer_id must be 1 to 100"),
        (CustomerIn, {**NEW, "preferences": {"blocked": [TWICE]}}, "days must not repeat: mon"),
        (CustomerIn, {**NEW, "preferences": {"blocked": [TWICE]}}, "end must differ from start"),
        (CustomerPatch, {"timezone": None}, "timezone cannot be cleared"),
        (
            AttemptIn,
            {**GOOD, "window_start": "2025-06-01T09:00:00"},
            "window_start needs a UTC offset, e.g. 2025-06-03T14:00:00-04:00",
        ),
        (
            AttemptIn,
            {**GOOD, "window_end": "2025-06-02T11:00:00-04:00"},
            "a window is 15 min to 24 h long; got 26 h",
        ),
        (
            AttemptIn,
            {**GOOD, "window_end": "2025-06-01T08:00:00-04:00"},
            "must be after window_start",
        ),
        (AttemptIn, {**GOOD, "failure_reason": "refused"}, "failure_reason must be empty"),
        (AttemptIn, {**GOOD, "delivered": False}, "failure_reason is required"),
        (AttemptIn, {**GOOD, "colour": 1}, "Extra inputs"),
    ],
)
def test_schema_messages(model: type[BaseModel], body: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(expected)):
        model.model_validate(body)


def test_good_bodies_pass() -> None:
    AttemptIn.model_validate(GOOD)
    whole_day = {"days": ["sun"], "start": "00:00", "end": "24:00"}
    overnight = {"days": ["fri"], "start": "22:00", "end": "02:00"}
    body = CustomerIn.model_validate({**NEW, "preferences": {"preferred": [whole_day, overnight]}})
    assert body.profile("US")["preferences"]["preferred"][1] == overnight
