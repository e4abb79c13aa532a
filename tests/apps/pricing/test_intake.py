"""Parsing events: one or a batch, every bad one named by index and field, the good ones
kept; bodies that cannot be events at all are refused whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from foresight.apps.pricing.intake import parse_events
from foresight.apps.pricing.schemas import SupplyEvent, payload_of
from foresight.platform.errors import InvalidInput

NOW = datetime(2026, 1, 11, 10, 30, tzinfo=UTC)


def event(i: int, kind: str = "search", **extra: Any) -> dict[str, Any]:
    body = {
        "event_id": f"e{i}",
        "event_type": kind,
        "region_id": "sg-central",
        "timestamp": (NOW - timedelta(seconds=i)).isoformat(),
    }
    if kind == "booking":
        body["product_type"] = "standard_ride"
    if kind == "supply_update":
        body.update(available=40, busy=12)
    return {**body, **extra}


def parse(items: Any, **kw: Any) -> Any:
    return parse_events(orjson.dumps(items), now=NOW, **kw)


def test_one_event_or_a_batch_of_every_type() -> None:
    kinds = ["search", "booking", "cancel", "supply_update"]
    signal = event(9, "external_signal", signal="rain_mm", value=2.5)
    parsed = parse([event(i, k) for i, k in enumerate(kinds)] + [signal])
    assert [i for i, _ in parsed.valid] == [0, 1, 2, 3, 4] and parsed.rejected == []
    assert isinstance(parsed.valid[3][1], SupplyEvent)
    single = parse(event(1))
    assert len(single.valid) == 1
    stored = payload_of(single.valid[0][1])
    assert stored["timestamp"].startswith("2026-01-11T10:29:59") and "user_id" not in stored


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ({"event_type": "refund"}, "event_type", "one of: search, booking"),
        ({"region_id": None}, "region_id", "valid string"),
        ({"region_id": "SG Central"}, "region_id", "pattern"),
        ({"timestamp": "2026-01-11T10:00:00"}, "timestamp", "timezone"),
        (
            {"timestamp": (NOW + timedelta(minutes=10)).isoformat()},
            "timestamp",
            "600 s in the future",
        ),
        ({"timestamp": (NOW - timedelta(days=8)).isoformat()}, "timestamp", "older than 7 days"),
        ({"price": -1}, "price", "greater than or equal"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
    ],
)
def test_a_bad_event_is_named_and_the_rest_are_kept(bad: dict, field: str, words: str) -> None:
    items = [event(0), event(1, "booking", **bad), event(2)]
    parsed = parse(items)
    assert [i for i, _ in parsed.valid] == [0, 2]
    (rejected,) = parsed.rejected
    assert (rejected.index, rejected.field) == (1, field) and words in rejected.message


def test_a_missing_field_is_named() -> None:
    item = event(0, "supply_update")
    del item["available"]
    (rejected,) = parse([item]).rejected
    assert (rejected.field, rejected.message) == ("available", "Field required")


def test_bodies_that_are_not_events_are_refused_whole() -> None:
    with pytest.raises(InvalidInput, match=r"not valid JSON: .*line 1 column"):
        parse_events(b'[{"event_id": "e1",', now=NOW)
    with pytest.raises(InvalidInput, match="one event object or an array"):
        parse(42)
    with pytest.raises(InvalidInput, match="at most 1,000 in one request, got 1,001"):
        parse([event(i) for i in range(1001)])
    assert len(parse([event(i) for i in range(1000)]).valid) == 1000
