"""The delivery routes over HTTP on a fresh platform with only the delivery app: customer
CRUD with 409/412/404 and If-Match, the all-or-nothing CSV import, attempts and events in
order, calendar uploads (415, 413 declared and streamed, 422, a good file), availability
answers and their errors. Every answer is checked against values computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from foresight.apps.delivery import state
from foresight.apps.delivery.schemas import DeliverySettings
from tests.apps.delivery.helpers import Api, refused, serving

CAL_MAX = 4096  # a small calendar cap, so the 413 tests send little
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//routes//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:gym-1@test\r\nDTSTAMP:20250601T000000Z\r\n"
    b"DTSTART:20250603T180000Z\r\nDTEND:20250603T193000Z\r\nSUMMARY:gym\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
TOO_LARGE = "calendar too large: the file is over 4,096 bytes"  # the route's cap, before parsing
WINDOW = {"window_start": "2025-06-03T18:00:00Z", "window_end": "2025-06-03T20:00:00Z"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = DeliverySettings(calendar_max_bytes=CAL_MAX)  # type: ignore[call-arg]
    with serving(tmp_path_factory.mktemp("delivery-routes"), settings) as api:
        yield api


def attempt(day: str, at: str, delivered: bool, **extra: Any) -> dict[str, Any]:
    """An attempt at local New York time ``at`` in a 14:00–16:00 window on ``day``."""
    return {
        "attempted_at": f"{day}T{at}:00-04:00",
        "window_start": f"{day}T14:00:00-04:00",
        "window_end": f"{day}T16:00:00-04:00",
        "delivered": delivered,
        **({} if delivered else {"failure_reason": "not_home"}),
        **extra,
    }


def pick(body: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(body[n] for n in names)


# ---- customers ----------------------------------------------------------------------------
def test_customer_crud_with_conflicts_preconditions_and_not_found(api: Api) -> None:
    created = api.customer("crud-1", household_type="retired")
    assert pick(created, "version", "household_type", "country") == (1, "retired", "US")
    taken = {"customer_id": "crud-1", "timezone": "UTC", "address_zone": "Z02"}
    again = api.post("/customers", json=taken)
    assert again.status_code == 409 and "exists; PATCH it" in again.json()["detail"]

    url = "/customers/crud-1"
    assert api.get(url).json() == created
    changed = api.call("PATCH", url, json={"address_zone": "Z09"}, headers={"If-Match": "1"})
    refused(changed, 200)
    assert pick(changed.json(), "version", "address_zone") == (2, "Z09")
    stale = api.call("PATCH", url, json={"address_zone": "Z03"}, headers={"If-Match": "1"})
    refused(stale, 412)
    assert stale.json()["detail"] == "customer 'crud-1' is at version 2, not 1"
    for garbage in ("abc", '"2"', "*", "2.0", "-1"):
        bad = api.call("PATCH", url, json={"address_zone": "Z03"}, headers={"If-Match": garbage})
        assert refused(bad, 422) == ["If-Match"], garbage
    assert pick(api.get(url).json(), "address_zone", "version") == ("Z09", 2)  # unchanged
    unconditional = api.call("PATCH", url, json={"lat": 40.5})
    assert pick(unconditional.json(), "version", "lat") == (3, 40.5)
    assert refused(api.call("PATCH", url, json={"timezone": None}), 422) == ["timezone"]

    typo = api.get("/customers/crud-2")
    refused(typo, 404)
    assert typo.json()["detail"] == "no customer 'crud-2'; did you mean 'crud-1'?"
    assert api.call("DELETE", url).status_code == 204
    gone = api.get(url)
    assert gone.status_code == 404 and "was deleted on 2025-06-02" in gone.json()["detail"]
    assert api.call("DELETE", url).status_code == 404


def test_create_refuses_bad_bodies_with_the_field_named(api: Api) -> None:
    no_zone = api.post("/customers", json={"customer_id": "tz-1", "address_zone": "Z01"})
    assert refused(no_zone, 422) == ["timezone"]
    assert "timezone is required" in no_zone.json()["detail"]
    body = {"customer_id": "tz-1", "timezone": "Mars/Olympus", "address_zone": "Z01"}
    assert refused(api.post("/customers", json=body), 422) == ["timezone"]
    assert refused(api.post("/customers", json=body | {"customer_id": "/x"}), 422) == [
        "customer_id",
        "timezone",
    ]


def test_list_filters_and_limits(api: Api) -> None:
    for cid, zone, kind in [
        ("list-a", "LZ1", "student"),
        ("list-b", "LZ1", "parent"),
        ("list-c", "LZ2", "student"),
    ]:
        api.customer(cid, address_zone=zone, household_type=kind)

    def ids(**params: Any) -> list[str]:
        return [c["customer_id"] for c in api.get("/customers", params=params).json()]

    assert ids(zone="LZ1") == ["list-a", "list-b"]
    assert ids(zone="LZ1", household_type="student") == ["list-a"]
    assert ids(household_type="student", limit=5) == ["list-a", "list-c"]
    assert ids(zone="LZ1", limit=1, offset=1) == ["list-b"]
    for params, field in [
        ({"limit": 1001}, "limit"),
        ({"offset": 2**31 + 1}, "offset"),
        ({"household_type": "astronaut"}, "household_type"),
    ]:
        assert refused(api.get("/customers", params=params), 422) == [field]


def test_roles_guard_reads_and_writes(api: Api) -> None:
    body = {"customer_id": "role-1", "timezone": "UTC", "address_zone": "Z01"}
    assert api.get("/customers", role=None).status_code == 401
    assert api.get("/customers", role="service").status_code == 403
    assert api.post("/customers", json=body, role="service").status_code == 403
    assert api.post("/customers", json=body, role="analyst").status_code == 201


def test_import_is_all_or_nothing(api: Api) -> None:
    csv = {"Content-Type": "text/csv"}
    bad = (
        "customer_id,timezone,address_zone,household_type\n"
        "imp-1,America/New_York,Z01,commuter\n"
        "imp-2,,Z01,student\n"
        "imp-3,Europe/Paris,Z02,retired\n"
    )
    refusal = api.post("/customers/import", content=bad.encode(), headers=csv)
    assert refused(refusal, 422) == ["timezone"]
    assert refusal.json()["errors"][0] == {
        "field": "timezone",
        "message": "timezone is required: an IANA name such as America/New_York",
        "row": 3,
    }
    for cid in ("imp-1", "imp-3"):
        assert api.get(f"/customers/{cid}").status_code == 404

    good = bad.replace("imp-2,,", "imp-2,UTC,")
    done = api.post("/customers/import", content=good.encode(), headers=csv)
    assert done.status_code == 200, done.text
    assert pick(done.json(), "rows", "created", "updated", "unchanged") == (3, 3, 0, 0)
    moved = good.replace("Europe/Paris,Z02", "Europe/Paris,Z07")
    second = api.post("/customers/import", files={"file": ("c.csv", moved.encode(), "text/csv")})
    assert pick(second.json(), "created", "updated", "unchanged") == (0, 1, 2)
    assert pick(api.get("/customers/imp-3").json(), "address_zone", "version") == ("Z07", 2)
    refused(api.post("/customers/import", content=b"", headers=csv), 422)


# ---- attempts and events ------------------------------------------------------------------
def test_attempts_and_events_in_order(api: Api) -> None:
    api.customer("ev-1")
    url = "/customers/ev-1"
    sent = [
        attempt("2025-05-20", "15:10", True),
        attempt("2025-05-28", "14:40", False, idempotency_key="k-1"),
        attempt("2025-05-27", "14:30", True),
    ]
    offsets = []
    for body in sent:
        answer = api.post(f"{url}/attempts", json=body)
        assert answer.status_code == 201, answer.text
        offsets.append(answer.json()["event_offset"])
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    repeat = api.post(f"{url}/attempts", json=sent[1])
    assert repeat.status_code == 201 and repeat.json()["event_offset"] == offsets[1]

    newest_first = api.get(f"{url}/attempts").json()
    assert [a["attempted_at"][:10] for a in newest_first] == [
        "2025-05-28",
        "2025-05-27",
        "2025-05-20",
    ]
    assert [a["failure_reason"] for a in newest_first] == ["not_home", None, None]
    assert len(api.get(f"{url}/attempts", params={"limit": 1}).json()) == 1

    def offsets_of(**params: Any) -> list[int]:
        return [e["offset"] for e in api.get(f"{url}/events", params=params).json()]

    events = api.get(f"{url}/events").json()
    assert [e["type"] for e in events] == [state.PROFILE_UPDATED] + [state.DELIVERY_ATTEMPTED] * 3
    assert [e["offset"] for e in events[1:]] == offsets
    assert events[0]["payload"]["created"] is True
    assert offsets_of(since=offsets[0]) == offsets[1:]
    assert offsets_of(types=state.DELIVERY_ATTEMPTED, limit=2) == offsets[:2]
    assert len(offsets_of(types=f"{state.PROFILE_UPDATED},{state.DELIVERY_ATTEMPTED}")) == 4

    typo = api.get(f"{url}/events", params={"types": "delivery.DeliveryAttempt"})
    refused(typo, 422)
    assert "did you mean 'delivery.DeliveryAttempted'" in typo.json()["detail"]
    assert refused(api.get(f"{url}/events", params={"limit": 1001}), 422) == ["limit"]
    assert refused(api.get(f"{url}/events", params={"since": -1}), 422) == ["since"]


def test_attempt_errors_name_the_field(api: Api) -> None:
    api.customer("att-err")
    url = "/customers/att-err/attempts"
    good = attempt("2025-05-20", "15:10", True)
    cases = [
        ({"delivered": False}, "failure_reason"),
        ({"window_end": "2025-05-20T13:00:00-04:00"}, "window_end"),
        ({"attempted_at": "2025-05-20T15:10:00"}, "attempted_at"),
        # After the clock (the window moved with it, so only the time is wrong).
        (
            {
                "attempted_at": "2025-06-09T15:10:00-04:00",
                "window_start": "2025-06-09T14:00:00-04:00",
                "window_end": "2025-06-09T16:00:00-04:00",
            },
            "attempted_at",
        ),
        # Made before its window opened: a training row would see its own outcome.
        ({"attempted_at": "2025-05-20T12:10:00-04:00"}, "window_end"),
    ]
    for change, field in cases:
        assert refused(api.post(url, json=good | change), 422) == [field], change
    unknown = api.post("/customers/att-er/attempts", json=good)
    refused(unknown, 404)
    assert "did you mean 'att-err'" in unknown.json()["detail"]
    assert api.get(url).json() == []


# ---- calendar -----------------------------------------------------------------------------
def test_calendar_upload_status_and_delete(api: Api) -> None:
    api.customer("cal-1")
    url = "/customers/cal-1/calendar"
    assert api.get(url).json() == {"status": "none"}

    as_json = api.put_calendar("cal-1", ICS, "application/json")
    refused(as_json, 415)
    assert as_json.json()["detail"].startswith("send the calendar as text/calendar")
    declared = api.put_calendar("cal-1", b"x" * (CAL_MAX + 1))
    refused(declared, 413)
    assert declared.json()["detail"].startswith(TOO_LARGE)
    # Chunked, so no Content-Length refuses it: the stream is cut once past the cap.
    streamed = api.put_calendar("cal-1", iter([b"x" * 1024] * 5))
    refused(streamed, 413)
    assert streamed.json()["detail"].startswith(TOO_LARGE)
    malformed = api.put_calendar("cal-1", b"hello")
    refused(malformed, 422)
    assert "not an iCalendar" in malformed.json()["detail"]
    assert api.get(url).json() == {"status": "none"}

    good = api.put_calendar("cal-1", ICS, "text/calendar; charset=utf-8")
    assert good.status_code == 200, good.text
    assert pick(good.json(), "status", "kind", "instances") == ("fresh", "upload", 1)
    assert api.get("/customers/cal-1").json()["version"] == 2

    # A bad file after a good one leaves the good one in place.
    refused(api.put_calendar("cal-1", b"BEGIN:VCALENDAR\r\nX", "application/octet-stream"), 422)
    read = api.get(url).json()
    assert read["status"] == "fresh"
    week = [
        (datetime.fromisoformat(s), datetime.fromisoformat(e), all_day)
        for s, e, all_day in read["busy_next_7_days"]
    ]
    gym = (datetime(2025, 6, 3, 18, tzinfo=UTC), datetime(2025, 6, 3, 19, 30, tzinfo=UTC), False)
    assert week == [gym]

    deleted = api.call("DELETE", url)
    assert deleted.status_code == 200 and deleted.json() == {"status": "none"}
    assert api.get(url).json() == {"status": "none"}
    assert api.get("/customers/cal-1").json()["version"] == 3
    missing = api.put_calendar("cal-2", ICS)
    refused(missing, 404)
    assert "did you mean 'cal-1'" in missing.json()["detail"]


# ---- availability -------------------------------------------------------------------------
def test_availability_answers_the_history_rule(api: Api) -> None:
    api.customer("avail-1")
    for body in (
        attempt("2025-05-20", "15:10", True),  # Tuesday, in the window's hours
        attempt("2025-05-27", "14:30", True),  # Tuesday, in the window's hours
        attempt("2025-05-28", "14:40", False),  # Wednesday: counts for the customer only
    ):
        assert api.post("/customers/avail-1/attempts", json=body).status_code == 201
    answer = api.post(
        "/predict/availability", json={"customer_id": "avail-1"} | WINDOW, role="service"
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    # Untrained: the default rule answers base_rate with prior g = 0.7 and m = 2:
    # r_c = (2 + 2·0.7) / (3 + 2) = 0.68; p = (2 + 2·0.68) / (2 + 2) = 0.84.
    assert got["probability"] == pytest.approx(0.84, abs=1e-4)
    assert pick(got, "fallback", "basis", "confidence") == ("default", "model", "low")
    assert got["window_local"] == {
        "start": "2025-06-03T14:00:00-04:00",
        "end": "2025-06-03T16:00:00-04:00",
        "timezone": "America/New_York",
    }
    assert got["evidence"]["attempts"] == 3
    assert (got["holiday"], got["preferred"], got["blocked"]) == (None, False, False)

    params = {"types": state.PREDICTION_REQUESTED}
    events = api.get("/customers/avail-1/events", params=params).json()
    assert [e["payload"]["request_id"] for e in events] == [got["request_id"]]


def test_availability_errors(api: Api) -> None:
    api.customer("avail-err")
    url = "/predict/availability"
    body = {"customer_id": "avail-err"} | WINDOW

    def ask(content: Any, **kw: Any) -> Any:
        return api.post(url, json=content, role=kw.pop("role", "service"), **kw)

    unknown = ask(body | {"customer_id": "avail-erx"})
    refused(unknown, 404)
    assert unknown.json()["detail"] == "no customer 'avail-erx'; did you mean 'avail-err'?"
    for end, message in [
        ("2025-06-03T17:00:00Z", "must be after window_start"),
        ("2025-06-04T20:00:00Z", "a window is 15 min to 24 h long; got 26 h"),
    ]:
        bad = ask(body | {"window_end": end})
        assert refused(bad, 422) == ["window_end"]
        assert bad.json()["errors"][0]["message"] == message
    assert refused(ask(body | {"window_start": "2025-06-03T18:00:00"}), 422) == ["window_start"]
    assert refused(ask(body | {"x": 1}), 422) == ["x"]
    assert refused(ask(body | {"top": 11}), 422) == ["top"]
    not_json = api.post(
        url, content=b"{", headers={"Content-Type": "application/json"}, role="service"
    )
    assert refused(not_json, 422) == ["body"]
    assert ask(body, role=None).status_code == 401
