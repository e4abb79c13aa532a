"""Outcomes: an attempt judges the prediction made for its time (the monitor stores the
window's probability beside what happened); outcomes posted to the platform's route are
matched the same way, by customer and time or by prediction id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from foresight.apps.delivery import state
from foresight.apps.delivery.model import MODEL_NAME
from foresight.platform.runtime import Platform
from tests.apps.delivery.helpers import Api, refused, serving

DAY = "2025-06-03"  # a Tuesday
NY = ZoneInfo("America/New_York")
WINDOW = {"window_start": f"{DAY}T14:00:00-04:00", "window_end": f"{DAY}T16:00:00-04:00"}
OUTCOMES = "/outcomes"  # the platform route, under the app's prefix


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(tmp_path_factory.mktemp("outcomes")) as api:
        api.customer("o-1")
        api.customer("o-2")
        yield api


def platform_of(api: Api) -> Platform:
    return api.client.app.state.platform  # type: ignore[no-any-return]


def at(api: Api, local: str) -> None:
    """Set the platform's clock to ``local`` (HH:MM, New York) on ``DAY``."""
    hour, minute = map(int, local.split(":"))
    clock = platform_of(api).clock
    clock.now = datetime(2025, 6, 3, hour, minute, tzinfo=NY)  # type: ignore[attr-defined]


def judged(api: Api) -> list[tuple[float, float]]:
    predicted, observed = platform_of(api).monitor.recent_outcomes(MODEL_NAME)
    return sorted(zip(predicted.tolist(), observed.tolist(), strict=True))


def attempt(at: str, delivered: bool) -> dict[str, Any]:
    return {
        "attempted_at": f"{DAY}T{at}:00-04:00",
        **WINDOW,
        "delivered": delivered,
        **({} if delivered else {"failure_reason": "not_home"}),
    }


def test_an_attempt_is_the_outcome_of_the_prediction_for_its_window(api: Api) -> None:
    at(api, "14:06")
    before = api.post("/customers/o-1/attempts", json=attempt("14:05", False))
    assert before.json()["outcome_matched"] is None  # no prediction yet: nothing to judge
    at(api, "14:10")
    asked = api.post("/predict/availability", json={"customer_id": "o-1"} | WINDOW).json()
    at(api, "16:00")
    first = api.post("/customers/o-1/attempts", json=attempt("14:30", False))
    assert first.status_code == 201 and first.json()["outcome_matched"] == asked["request_id"]
    assert judged(api) == [(asked["probability"], 0.0)]
    # A second attempt that day judges the same prediction: one outcome per prediction.
    second = api.post("/customers/o-1/attempts", json=attempt("15:40", True))
    assert second.json()["outcome_matched"] == asked["request_id"]
    assert len(judged(api)) == 1
    # A new prediction is judged by the next attempt in its window.
    at(api, "15:45")
    again = api.post("/predict/availability", json={"customer_id": "o-1"} | WINDOW).json()
    at(api, "16:00")
    api.post("/customers/o-1/attempts", json=attempt("15:50", True))
    assert judged(api) == sorted([(asked["probability"], 0.0), (again["probability"], 1.0)])
    # Another customer's attempt matches nothing of o-1's.
    other = api.post("/customers/o-2/attempts", json=attempt("14:30", True))
    assert other.json()["outcome_matched"] is None


def test_an_optimal_time_answer_is_judged_by_the_window_the_attempt_falls_in(api: Api) -> None:
    at(api, "08:00")
    body = {"customer_id": "o-2", "date": DAY, "top_k": 20, "earliest": "12:00"}
    ranked = api.post("/predict/optimal-time", json=body).json()["windows"]
    chosen = next(w for w in ranked if w["start_local"].endswith("T15:00:00-04:00"))
    at(api, "15:30")
    made = api.post("/customers/o-2/attempts", json=attempt("15:10", True))
    assert made.json()["outcome_matched"] is not None
    assert judged(api) == [(chosen["probability"], 1.0)]


def test_posted_outcomes_match_by_customer_and_time_or_by_id(api: Api) -> None:
    at(api, "09:00")
    asked = api.post("/predict/availability", json={"customer_id": "o-1"} | WINDOW).json()
    events = api.get("/customers/o-1/events", params={"types": state.PREDICTION_REQUESTED}).json()
    offset = events[-1]["offset"]
    when = f"{DAY}T15:00:00-04:00"
    by_customer = {"entity": "o-1", "observed": "delivered", "observed_at": when}
    answer = api.post(OUTCOMES, json={"outcomes": [by_customer]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    by_id = {"prediction_id": offset, "observed": True, "observed_at": when}
    assert api.post(OUTCOMES, json={"outcomes": [by_id]}).json()["duplicates"] == 1
    assert judged(api) == [(asked["probability"], 1.0)]
    for item, message in [
        ({"entity": "o-2", "observed": 1, "observed_at": when}, "no delivery prediction for 'o-2'"),
        ({"prediction_id": offset, "observed": "maybe", "observed_at": when}, "got 'maybe'"),
        ({"prediction_id": offset + 999, "observed": 1}, "no delivery prediction with id"),
        (
            {"prediction_id": offset, "entity": "o-2", "observed": 1, "observed_at": when},
            "not 'o-2'",
        ),
        (
            {"prediction_id": offset, "observed": 1, "observed_at": f"{DAY}T20:00:00-04:00"},
            "has no window holding",
        ),
    ]:
        bad = api.post(OUTCOMES, json={"outcomes": [item]})
        assert refused(bad, 422) == ["outcomes.0"] and message in bad.json()["detail"], item


def test_a_time_is_judged_by_the_window_that_holds_it_before_a_late_log() -> None:
    from foresight.apps.delivery.outcomes import _window_p
    from foresight.platform.events import Event

    at = datetime(2025, 6, 3, 11, 30, tzinfo=UTC)
    windows = [
        ["2025-06-03T10:00:00+00:00", "2025-06-03T11:00:00+00:00", 0.9],  # ended 30 min ago
        ["2025-06-03T11:00:00+00:00", "2025-06-03T12:00:00+00:00", 0.2],  # holds 11:30
    ]
    event = Event(1, state.PREDICTION_REQUESTED, "k", {"windows": windows}, at, at, "i")
    assert _window_p(event, at) == 0.2
    late = datetime(2025, 6, 3, 12, 40, tzinfo=UTC)  # logged 40 min after the last window
    assert _window_p(event, late) == 0.2
    assert _window_p(event, late + timedelta(hours=1)) is None
    empty = Event(2, state.PREDICTION_REQUESTED, "k", {"windows": None}, at, at, "i")
    assert _window_p(empty, at) is None
