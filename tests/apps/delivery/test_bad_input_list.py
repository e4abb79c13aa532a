"""Issue 11's bad-input list, item by item, over HTTP: each gets a clear 4xx naming what
to fix (never a 500), and the customer is left as it was. A feed that fails after it
worked gives a flagged, history-only answer: test_feeds.py (it needs a fake server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.apps.delivery.helpers import Api, refused, serving

AVAILABILITY = "/predict/availability"
TEN, ELEVEN = "2025-06-03T10:00:00-04:00", "2025-06-03T11:00:00-04:00"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(tmp_path_factory.mktemp("delivery-bad-input")) as api:
        api.customer("bad-1")
        yield api


def ask(api: Api, **window: str) -> Any:
    body = {"customer_id": "bad-1", "window_start": TEN, "window_end": ELEVEN} | window
    return api.post(AVAILABILITY, json=body, role="service")


def test_an_unknown_customer_is_a_404_naming_it(api: Api) -> None:
    answer = ask(api, customer_id="nobody")
    refused(answer, 404)
    assert answer.json()["detail"] == "no customer 'nobody'"


@pytest.mark.parametrize(
    ("window", "field", "words"),
    [
        ({"window_end": "2025-06-03T09:00:00-04:00"}, "window_end", "after window_start"),
        ({"window_end": "2025-06-05T09:00:00-04:00"}, "window_end", "15 min to 24 h"),
        ({"window_start": "2025-06-03T10:00:00"}, "window_start", "needs a UTC offset"),
    ],
)
def test_a_bad_window_is_a_422_naming_the_field(
    api: Api, window: dict[str, str], field: str, words: str
) -> None:
    answer = ask(api, **window)
    assert refused(answer, 422)[0] == field
    assert words in answer.json()["errors"][0]["message"]


def test_a_customer_without_a_time_zone_is_refused(api: Api) -> None:
    answer = api.post("/customers", json={"customer_id": "bad-2", "address_zone": "Z01"})
    assert refused(answer, 422) == ["timezone"]


def test_calendars_that_cannot_be_read_are_refused_and_change_nothing(api: Api) -> None:
    malformed = api.put_calendar("bad-1", b"BEGIN:VCALENDAR\nnot a line\nEND:VCALENDAR\n")
    refused(malformed, 422)
    assert "not an iCalendar file" in malformed.json()["detail"]
    huge = api.put_calendar("bad-1", b"BEGIN:VCALENDAR\n" + b"X" * (6 * 2**20))
    refused(huge, 413)
    feed = api.call(
        "PUT", "/customers/bad-1/calendar/feed", json={"url": "https://calendar.invalid/c.ics"}
    )
    refused(feed, 422)
    assert "could not be found" in feed.json()["detail"]
    assert api.get("/customers/bad-1/calendar").json() == {"status": "none"}


def test_a_failed_update_leaves_the_customer_as_it_was(api: Api) -> None:
    before = api.get("/customers/bad-1").json()
    answer = api.call("PATCH", "/customers/bad-1", json={"timezone": "Mars/Olympus"})
    assert refused(answer, 422) == ["timezone"]
    assert api.get("/customers/bad-1").json() == before
    still = ask(api)
    assert still.status_code == 200 and still.json()["window_local"]["timezone"] == (
        "America/New_York"
    )
