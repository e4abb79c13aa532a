"""``POST predict/optimal-time`` over HTTP: the ranked windows of a stored customer, its
event, and the refusals that name the field (or the rule) to fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from foresight.apps.delivery import state
from tests.apps.delivery.helpers import Api, refused, serving

URL = "/predict/optimal-time"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(tmp_path_factory.mktemp("delivery-predict")) as api:
        blocked = {"days": ["tue"], "start": "08:00", "end": "12:00"}
        api.customer("opt-1", preferences={"blocked": [blocked]})
        # Tuesdays: delivered twice at 17:00, not home once at 13:00.
        for day, hour, delivered in (
            ("2025-05-20", 17, True),
            ("2025-05-27", 17, True),
            ("2025-05-13", 13, False),
        ):
            attempt = {
                "attempted_at": f"{day}T{hour}:10:00-04:00",
                "window_start": f"{day}T{hour}:00:00-04:00",
                "window_end": f"{day}T{hour + 1}:00:00-04:00",
                "delivered": delivered,
                **({} if delivered else {"failure_reason": "not_home"}),
            }
            assert api.post("/customers/opt-1/attempts", json=attempt).status_code == 201
        yield api


def test_the_best_windows_of_a_tuesday(api: Api) -> None:
    body = {"customer_id": "opt-1", "date": "2025-06-03", "top_k": 20}
    answer = api.post(URL, json=body, role="service")
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["considered"] == 26 and got["timezone"] == "America/New_York"
    assert got["excluded"] == {"past": 0, "blocked": 8, "calendar": 0}
    windows = got["windows"]
    assert [w["rank"] for w in windows] == list(range(1, 19))  # 26 less the 8 blocked
    # The rule by hand (prior 0.7, m = 2): the customer's rate (2 + 2·0.7) / 5 = 0.68;
    # Tuesday 17:00 (2 of 2) (2 + 2·0.68) / 4 = 0.84; 13:00 (0 of 1) 1.36 / 3 = 0.4533;
    # every other hour 0.68, ties ranked earliest first.
    starts = [datetime.fromisoformat(w["start_local"]).strftime("%H:%M") for w in windows]
    assert starts[:3] == ["17:00", "17:30", "12:00"]
    assert starts[-2:] == ["13:00", "13:30"]
    probabilities = [w["probability"] for w in windows]
    assert probabilities[:3] == [0.84, 0.84, 0.68] and probabilities[-1] == 0.4533
    assert (got["basis"], got["fallback"]) == ("model", "default")
    assert got["holidays"] == {} and got["weather"]["source"] == "climatology"
    # Each ranked window answers availability with the same probability.
    first = windows[0]
    one = api.post(
        "/predict/availability",
        json={
            "customer_id": "opt-1",
            "window_start": first["start"],
            "window_end": first["end"],
            "explain": False,
        },
        role="service",
    ).json()
    assert one["probability"] == first["probability"]
    params = {"types": state.PREDICTION_REQUESTED}
    events = api.get("/customers/opt-1/events", params=params).json()
    kinds = {e["payload"]["request_id"]: e["payload"]["kind"] for e in events}
    assert kinds[got["request_id"]] == "optimal_time"


def test_a_range_and_a_long_window(api: Api) -> None:
    body = {
        "customer_id": "opt-1",
        "date_from": "2025-07-03",
        "date_to": "2025-07-05",
        "window_minutes": 120,
        "earliest": "09:00",
        "latest": "24:00",
        "top_k": 20,
    }
    got = api.post(URL, json=body, role="service").json()
    assert got["considered"] == 3 * 7 and len(got["windows"]) == 20  # top_k's most
    assert got["holidays"] == {"2025-07-04": "Independence Day"}
    late = body | {"date_from": "2025-07-05", "earliest": "20:00"}
    ends = {w["end_local"] for w in api.post(URL, json=late, role="service").json()["windows"]}
    assert ends == {"2025-07-05T22:00:00-04:00", "2025-07-06T00:00:00-04:00"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"date": None}, "body", "date is required"),
        ({"date_to": "2025-06-30"}, "body", "either date or date_from"),
        ({"window_minutes": 25}, "window_minutes", "multiple of 15"),
        ({"top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"latest": "25:00"}, "latest", "latest must be a time such as 08:00"),
        ({"earliest": "21:00", "latest": "21:15"}, "body", "holds no window of 30 minutes"),
        ({"earliest": "20:45"}, "earliest", "20:45 to latest 21:00 holds no window"),
        ({"x": 1}, "x", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_request_names_what_to_fix(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    body = {"customer_id": "opt-1", "date": "2025-06-03"} | change
    answer = api.post(URL, json=body, role="service")
    assert refused(answer, 422) == [field]
    assert message in answer.json()["errors"][0]["message"]


def test_unknown_customers_and_missing_keys(api: Api) -> None:
    unknown = api.post(URL, json={"customer_id": "opt-2", "date": "2025-06-03"}, role="service")
    refused(unknown, 404)
    assert unknown.json()["detail"] == "no customer 'opt-2'; did you mean 'opt-1'?"
    no_key = api.post(URL, json={"customer_id": "opt-1", "date": "2025-06-03"}, role=None)
    assert no_key.status_code == 401


def test_the_heat_map_of_a_week(api: Api) -> None:
    answer = api.get("/customers/opt-1/heatmap", params={"week_of": "2025-06-05"}, role="analyst")
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["week_of"] == "2025-06-02"  # that week's Monday
    assert got["weekdays"][0] == "mon" and got["hours"] == list(range(24))
    tuesday = 1
    # Attempts and outcomes by the hour they were made (17:10 twice, 13:10 once).
    assert got["attempts"][tuesday][17] == 2 and got["attempts"][tuesday][13] == 1
    assert sum(map(sum, got["attempts"])) == 3
    assert got["observed_rate"][tuesday][17] == 1.0 and got["observed_rate"][tuesday][13] == 0.0
    assert got["observed_rate"][0][17] is None
    # The same rule by hand as above, for 1-hour windows.
    assert got["predicted"][tuesday][17] == 0.84 and got["predicted"][tuesday][13] == 0.4533
    assert got["predicted"][tuesday][9] == 0.68 and got["predicted"][6][23] == 0.68


def test_the_heat_map_of_a_dst_week_and_its_errors(api: Api) -> None:
    got = api.get("/customers/opt-1/heatmap", params={"week_of": "2025-03-09"}).json()
    sunday = 6
    assert got["week_of"] == "2025-03-03" and got["predicted"][sunday][2] is None
    assert all(v is not None for v in got["predicted"][sunday][3:])
    bad = api.get("/customers/opt-1/heatmap", params={"week_of": "1999-01-01"})
    assert refused(bad, 422) == ["week_of"]
    assert "between 2000 and 2100" in bad.json()["detail"]
    assert refused(api.get("/customers/opt-1/heatmap", params={"week_of": "soon"}), 422) == [
        "week_of"
    ]
    missing = api.get("/customers/opt-9/heatmap")
    assert missing.status_code == 404 and "did you mean 'opt-1'" in missing.json()["detail"]
