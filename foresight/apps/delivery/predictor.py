"""Availability answers: a customer's context (profile, recent attempts, calendar) read
once and kept a few minutes, the model inputs for the asked windows, the model (or its
fallback), and an answer that says what it rests on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cachetools import TTLCache

from foresight.apps.delivery.factors import factor_text
from foresight.apps.delivery.features import describe
from foresight.apps.delivery.forecast import Forecast
from foresight.apps.delivery.history import History, HistoryParams
from foresight.apps.delivery.inputs import (
    MODEL_FEATURES,
    NO_CALENDAR,
    Calendar,
    Profile,
    holidays,
)
from foresight.apps.delivery.optimal import Planning
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.schemas_predict import AvailabilityRequest
from foresight.apps.delivery.store import attempts_of, live_row
from foresight.apps.delivery.tables import CustomerRow
from foresight.apps.delivery.weather import Climatology
from foresight.platform.db.engine import Database
from foresight.platform.events import NewEvent
from foresight.platform.serving import Served

COLD_ATTEMPTS, WARM_ATTEMPTS, WARM_NEAR = 5, 20, 3.0
_COLUMN = {name: i for i, name in enumerate(MODEL_FEATURES)}


@dataclass(frozen=True)
class CustomerCtx:
    """What a prediction reads of one customer, as of ``loaded_at``."""

    profile: Profile
    history: History
    calendar: Calendar
    attempts: int


class PredictionPart(Planning):
    """Availability predictions for stored customers (and, from ``Planning``, the best
    windows of a day and the week's heat map).

    ``serve()`` names the model that answers (the production version or its fallback);
    ``calendar_of(customer_id, now)`` gives the customer's calendar as the model reads it;
    ``emit`` takes the ``PredictionRequested`` event (a buffer: never a write per request).
    """

    def __init__(
        self,
        db: Database,
        settings: DeliverySettings,
        *,
        serve: Callable[[], Served],
        climate: Callable[[], Climatology],
        emit: Callable[[NewEvent], None],
        calendar_of: Callable[[str, datetime], Calendar] | None = None,
        forecast_of: Callable[[Profile], Forecast | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db, self.settings = db, settings
        self.serve, self.climate, self.emit = serve, climate, emit
        self.calendar_of = calendar_of or (lambda customer_id, now: NO_CALENDAR)
        self.forecast_of = forecast_of or (lambda profile: None)
        self.clock = clock
        self._ctx: TTLCache[str, CustomerCtx] = TTLCache(
            maxsize=50_000, ttl=max(settings.state_ttl, 1e-6), timer=time.monotonic
        )
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget
        self._params: dict[float, HistoryParams] = {}

    # ---- context -----------------------------------------------------------------------
    def context(self, customer_id: str) -> CustomerCtx:
        """The customer's context, from the cache or read now (a 404 for an unknown or
        deleted customer)."""
        if self.settings.state_ttl <= 0:
            return self._load(customer_id)
        with self._lock:
            found = self._ctx.get(customer_id)
            generation = self._generation
        if found is not None:
            return found
        ctx = self._load(customer_id)
        with self._lock:
            # A change committed while this load read the database has bumped the
            # generation: the context may predate it, so it is used once, not kept.
            if generation == self._generation:
                self._ctx[customer_id] = ctx
        return ctx

    def cached(self, customer_id: str) -> CustomerCtx | None:
        """The customer's cached context, or None: an answer from it reads no database."""
        with self._lock:
            return self._ctx.get(customer_id)

    def forget(self, customer_id: str | None = None) -> None:
        """Drop a customer's cached context (every customer's with None) after a change."""
        with self._lock:
            self._generation += 1
            if customer_id is None:
                self._ctx.clear()
            else:
                self._ctx.pop(customer_id, None)

    def _load(self, customer_id: str) -> CustomerCtx:
        s = self.settings
        with self.db.session() as session:
            row = live_row(session, customer_id)
            profile, count = profile_of(row), row.attempts
        rows = attempts_of(self.db, customer_id, limit=s.history_max_attempts)
        at = np.array([int(r.attempted_at.timestamp()) for r in rows], dtype=np.int64)
        delivered = np.array([r.delivered for r in rows], dtype=bool)
        history = History.from_times(at, delivered, profile.tz)
        calendar = self.calendar_of(customer_id, self.clock())
        return CustomerCtx(profile, history, calendar, count)

    def params(self, served: Served) -> HistoryParams:
        """The history constants with the serving model's prior (kept per prior: every
        request asks, and building them checks each value)."""
        prior = getattr(served.model, "prior", None)
        prior = float(prior) if prior is not None else 0.7
        found = self._params.get(prior)
        if found is None:
            s = self.settings
            found = HistoryParams(
                decay_half_life_days=s.decay_half_life_days,
                hour_kernel_sigma=s.hour_kernel_sigma,
                shrink=s.shrink,
                prior=prior,
            )
            if len(self._params) > 64:  # priors of models long replaced
                self._params.clear()
            self._params[prior] = found
        return found

    # ---- availability ------------------------------------------------------------------
    def availability(
        self, body: AvailabilityRequest, *, actor: str | None = None
    ) -> dict[str, Any]:
        """P(delivered) for one window, with its confidence, factors and what it rests on."""
        ctx = self.context(body.customer_id)
        served = self.serve()
        tz = ctx.profile.tz
        start, end = int(body.window_start.timestamp()), int(body.window_end.timestamp())
        w = describe(np.array([start]), np.array([end]), tz)
        x, probabilities, source = self.scored(ctx, served, w)
        p = float(probabilities[0])
        row = x[0]
        _, names = holidays(ctx.profile, w)
        holiday = next(iter(names.values()), None)
        local_start = body.window_start.astimezone(tz)
        factors = self._factors(served, row, local_start, holiday) if body.explain else []
        warnings = []
        if row[_COLUMN["blocked"]]:
            warnings.append("the window overlaps one the customer blocked")
        if row[_COLUMN["cal_busy_share"]] > 0:
            warnings.append("the customer's calendar is busy during the window")
        unread = ctx.calendar.status != "none" and not row[_COLUMN["cal_known"]]
        basis = "history_only" if unread else "model"
        if unread and ctx.calendar.known:
            warnings.append("the calendar does not reach this window: history only")
        elif unread:
            # A feed whose last fetch is too old reads unknown even if that fetch was good.
            status = "stale" if ctx.calendar.status == "fresh" else ctx.calendar.status
            warnings.append(f"calendar {status}: the answer rests on history only")
        window = [(body.window_start, body.window_end, p)]
        request_id = self.requested(body.customer_id, "availability", window, served, basis)
        return {
            "request_id": request_id,
            "customer_id": body.customer_id,
            "window_start": body.window_start,
            "window_end": body.window_end,
            "window_local": {
                "start": local_start.isoformat(),
                "end": body.window_end.astimezone(tz).isoformat(),
                "timezone": tz.key,
            },
            "probability": round(p, 4),
            "confidence": self._confidence(ctx, served, row),
            "evidence": {
                "attempts": ctx.attempts,
                "attempts_near_this_time": round(float(row[_COLUMN["n_eff_daytype_hour"]]), 2),
            },
            "factors": factors[: body.top],
            "basis": basis,
            "fallback": served.fallback,
            "model_version": served.label,
            "calendar": {
                "status": ctx.calendar.status,
                "conflicts": ctx.calendar.busy_between(start, end),
            },
            "weather": {
                "source": source,
                "precip_prob": round(float(row[_COLUMN["precip_prob"]]), 3),
                "temp_c": round(float(row[_COLUMN["temp_c"]]), 1),
            },
            "holiday": holiday,
            "preferred": bool(row[_COLUMN["preferred"]]),
            "blocked": bool(row[_COLUMN["blocked"]]),
            "warnings": warnings,
            "generated_at": self.clock(),
        }

    def _confidence(self, ctx: CustomerCtx, served: Served, row: np.ndarray) -> str:
        if ctx.attempts < COLD_ATTEMPTS or served.fallback == "default":
            return "low"
        if ctx.calendar.status in ("stale", "unavailable"):
            return "low"
        near = float(row[_COLUMN["n_eff_daytype_hour"]])
        if ctx.attempts >= WARM_ATTEMPTS and near >= WARM_NEAR and served.fallback is None:
            return "high"
        return "medium"

    def _factors(
        self, served: Served, row: np.ndarray, local: datetime, holiday: str | None
    ) -> list[dict[str, Any]]:
        explain = getattr(served.model, "explain_one", None)
        if explain is None:  # the rule: its one input is the factor
            effects = [("base_rate", float(row[_COLUMN["base_rate"]]), 0.0)]
        else:
            effects = explain(row)
        out = []
        for name, value, effect in effects:
            if explain is not None and abs(effect) < 1e-4:
                continue
            text = factor_text(name, value, local, holiday)
            out.append(
                {
                    "feature": name,
                    "value": round(value, 4),
                    "effect": round(effect, 4),
                    "text": text,
                }
            )
        return out


def profile_of(row: CustomerRow) -> Profile:
    """The model's view of a stored customer."""
    return Profile.of(
        row.customer_id,
        timezone=row.timezone,
        country=row.country,
        subdivision=row.subdivision,
        household_type=row.household_type,
        zone=row.zone,
        preferences=row.preferences,
    )
