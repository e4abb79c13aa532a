"""Calendar feeds over HTTP, the feed server played by ``httpx.MockTransport``: a good
fetch, ETag and 304, new content as an event, failures that keep the intervals and turn
the answers to history only, the breaker, the size cap, a malformed file, private URLs,
and the scheduled refresh."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from foresight.apps.delivery import state
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.service import DeliveryService
from foresight.platform.breakers import Breakers
from tests.apps.delivery.helpers import Api, refused, serving

URL = "https://calendars.example.com/c/secret.ics"
WINDOW = {"window_start": "2025-06-03T17:00:00Z", "window_end": "2025-06-03T20:00:00Z"}


def ics(start: str = "20250603T180000Z", end: str = "20250603T193000Z") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//feeds//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:gym@test\r\nDTSTAMP:20250601T000000Z\r\nDTSTART:{start}\r\n"
        f"DTEND:{end}\r\nSUMMARY:gym\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class FeedServer:
    """Answers with ``reply(request)``; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.reply: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200, content=ics(), headers={"ETag": '"v1"'}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = DeliverySettings(feed_allow_private=True, calendar_max_bytes=4096)
    with serving(tmp_path_factory.mktemp("feeds"), settings) as api:
        server = FeedServer()
        service = api.client.app.state.platform.service_of(DeliveryService)
        calendars = service.calendars
        calendars.client = httpx.Client(transport=httpx.MockTransport(server))
        calendars.breakers = Breakers(failures=5, reset_seconds=300)
        calendars.sleep = lambda seconds: None
        api.customer("f-1")
        yield type("World", (), {"api": api, "server": server, "service": service})


def put_feed(api: Api, url: str = URL, cid: str = "f-1") -> Any:
    return api.call("PUT", f"/customers/{cid}/calendar/feed", json={"url": url})


def availability(api: Api) -> dict[str, Any]:
    body = {"customer_id": "f-1"} | WINDOW
    return dict(api.post("/predict/availability", json=body).json())


def test_a_feed_is_fetched_kept_and_confirmed_with_its_etag(world: Any) -> None:
    api, server = world.api, world.server
    answer = put_feed(api, URL.replace("https://", "webcal://"))
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert (status["kind"], status["status"], status["instances"]) == ("feed", "fresh", 1)
    assert str(server.requests[0].url) == URL  # webcal:// is fetched over https
    assert availability(api)["calendar"]["conflicts"] == [
        ["2025-06-03T18:00:00+00:00", "2025-06-03T19:30:00+00:00"]
    ]
    server.reply = lambda r: httpx.Response(304)
    again = api.post("/customers/f-1/calendar/refresh").json()
    assert again["status"] == "fresh"
    assert server.requests[-1].headers["If-None-Match"] == '"v1"'
    assert api.get("/customers/f-1/calendar").json()["instances"] == 1  # intervals kept
    # New content is a calendar change: a new version and its event.
    version = api.get("/customers/f-1").json()["version"]
    server.reply = lambda r: httpx.Response(200, content=ics("20250603T170000Z"))
    api.post("/customers/f-1/calendar/refresh")
    assert api.get("/customers/f-1").json()["version"] == version + 1
    events = api.get("/customers/f-1/events", params={"types": state.PROFILE_UPDATED}).json()
    ref = events[-1]["payload"]["changes"]["calendar"]
    assert ref["kind"] == "feed" and ref["host"] == "calendars.example.com"
    assert "secret" not in str(events)  # a feed's URL is its secret: never in the log


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (lambda r: httpx.Response(500), "answered HTTP 500 Internal Server Error (3 attempts)"),
        (lambda r: httpx.Response(404), "the feed answered HTTP 404 Not Found"),
        (lambda r: httpx.Response(200, content=b"<html>login</html>"), "not an iCalendar file"),
        (
            lambda r: httpx.Response(200, content=b"x" * 5000),
            "larger than the limit of 4,096 bytes",
        ),
        (
            lambda r: (_ for _ in ()).throw(httpx.ConnectTimeout("slow", request=r)),
            "3 attempts",
        ),
    ],
)
def test_a_failed_fetch_keeps_the_intervals_and_answers_from_history(
    world: Any, reply: Callable[[httpx.Request], httpx.Response], error: str
) -> None:
    api, server = world.api, world.server
    assert put_feed(api).json()["status"] == "fresh"
    assert availability(api)["basis"] == "model"
    server.reply = reply
    failed = api.post("/customers/f-1/calendar/refresh")
    assert failed.status_code == 200, failed.text
    status = failed.json()
    assert status["status"] == "unavailable" and error in status["error"], status
    kept = api.get("/customers/f-1/calendar").json()["busy_next_7_days"]
    assert kept == [["2025-06-03T18:00:00Z", "2025-06-03T19:30:00Z", False]]  # still stored
    answer = availability(api)
    assert answer["basis"] == "history_only" and answer["calendar"]["status"] == "unavailable"
    assert any("calendar unavailable" in w for w in answer["warnings"])
    assert answer["confidence"] == "low"


def test_five_failures_open_the_breaker_and_the_sixth_call_is_not_made(world: Any) -> None:
    api, server = world.api, world.server
    assert put_feed(api).json()["status"] == "fresh"  # one good call
    server.reply = lambda r: httpx.Response(503)
    first = api.post("/customers/f-1/calendar/refresh").json()  # three failed attempts
    assert first["status"] == "unavailable"
    second = api.post("/customers/f-1/calendar/refresh").json()  # two more: five failures
    assert len(server.requests) == 6 and "next try in 300 s" in second["error"]
    third = api.post("/customers/f-1/calendar/refresh").json()
    assert len(server.requests) == 6 and "is unavailable" in third["error"]
    # /health names the host (never the secret URL) and stays healthy: one dead feed
    # degrades one customer's answers, not the service.
    health = api.client.get("/health", headers=api.keys["admin"])
    assert "secret.ics" not in health.text
    feeds = health.json()["components"]["delivery:calendar_feeds"]
    assert feeds["open_breakers"] == 1 and feeds["hosts"] == ["calendars.example.com"]
    assert feeds["ok"] is True


def test_private_and_odd_urls_are_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    with serving(tmp_path_factory.mktemp("feeds-public")) as api:
        api.customer("f-2")
        for url, message in [
            ("http://127.0.0.1/cal.ics", "is a loopback address"),
            ("http://10.1.2.3/cal.ics", "is a private address"),
            ("ftp://calendars.example.com/cal.ics", "must start with http://, https://"),
            ("https:///cal.ics", "has no host"),
        ]:
            answer = put_feed(api, url, "f-2")
            assert answer.status_code == 422 and message in answer.json()["detail"], url
        assert api.get("/customers/f-2/calendar").json() == {"status": "none"}
        no_feed = api.post("/customers/f-2/calendar/refresh")
        refused(no_feed, 422)
        assert "has no calendar feed" in no_feed.json()["detail"]


def test_the_scheduled_refresh_fetches_feeds_not_checked_for_an_hour(world: Any) -> None:
    api, server, service = world.api, world.server, world.service
    put_feed(api)
    fetched = len(server.requests)
    assert service.refresh_due_feeds() == {"fresh": 0, "unavailable": 0, "skipped": 0}
    clock = api.client.app.state.platform.clock
    clock.now = clock.now + timedelta(minutes=61)
    assert service.refresh_due_feeds() == {"fresh": 1, "unavailable": 0, "skipped": 0}
    assert len(server.requests) == fetched + 1
    assert datetime.fromisoformat(api.get("/customers/f-1/calendar").json()["checked_at"]) > (
        datetime(2025, 6, 2, 13, tzinfo=UTC)
    )


def test_a_new_feed_that_fails_leaves_the_calendar_as_it_was(world: Any) -> None:
    api, server = world.api, world.server
    upload = api.call(
        "PUT", "/customers/f-1/calendar", content=ics(), headers={"Content-Type": "text/calendar"}
    )
    assert upload.status_code == 200, upload.text
    before = api.get("/customers/f-1/calendar").json()
    version = api.get("/customers/f-1").json()["version"]
    for reply, error in [
        (lambda r: httpx.Response(500), "answered HTTP 500"),
        (lambda r: httpx.Response(304), "304 Not Modified to a request for the whole file"),
        (lambda r: httpx.Response(200, content=b"BEGIN:nothing"), "not an iCalendar file"),
    ]:
        server.reply = reply
        answer = put_feed(api).json()
        assert answer["status"] == "unavailable" and error in answer["error"], answer
        assert answer["error"].endswith("the calendar stays as it was")
        assert api.get("/customers/f-1/calendar").json() == before
        assert api.get("/customers/f-1").json()["version"] == version


def test_a_not_modified_feed_rolls_its_horizon_forward(world: Any) -> None:
    api, server = world.api, world.server
    weekly = ics().replace(b"SUMMARY:gym", b"RRULE:FREQ=WEEKLY\r\nSUMMARY:gym")
    server.reply = lambda r: httpx.Response(200, content=weekly, headers={"ETag": '"w"'})
    assert put_feed(api).json()["status"] == "fresh"
    clock = api.client.app.state.platform.clock
    clock.now = clock.now + timedelta(days=70)  # past the 60-day horizon of the first fetch
    server.reply = lambda r: httpx.Response(304)
    assert api.post("/customers/f-1/calendar/refresh").json()["status"] == "fresh"
    busy = api.get("/customers/f-1/calendar").json()["busy_next_7_days"]
    assert len(busy) == 1 and busy[0][0].startswith("2025-08-12T18:00")  # 10 weeks on
