"""Availability answers: a customer's context (profile, recent attempts, calendar) read
once and kept a few minutes, the model inputs for the asked windows, the model (or its
fallback), and an answer that says what it rests on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cachetools import TTLCache

from foresight.apps.delivery import state
from foresight.apps.delivery.features import describe
from foresight.apps.delivery.history import History, HistoryParams
from foresight.apps.delivery.inputs import (
    MODEL_FEATURES,
    NO_CALENDAR,
    Calendar,
    Profile,
    holidays,
    matrix,
)
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


class PredictionPart:
    """Availability predictions for stored customers.

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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db, self.settings = db, settings
        self.serve, self.climate, self.emit = serve, climate, emit
        self.calendar_of = calendar_of or (lambda customer_id, now: NO_CALENDAR)
        self.clock = clock
        self._ctx: TTLCache[str, CustomerCtx] = TTLCache(
            maxsize=50_000, ttl=max(settings.state_ttl, 1e-6), timer=time.monotonic
        )
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget

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
        s = self.settings
        prior = getattr(served.model, "prior", None)
        return HistoryParams(
            decay_half_life_days=s.decay_half_life_days,
            hour_kernel_sigma=s.hour_kernel_sigma,
            shrink=s.shrink,
            prior=float(prior) if prior is not None else 0.7,
        )

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
        x = matrix(
            ctx.profile,
            ctx.history,
            ctx.calendar,
            w,
            params=self.params(served),
            climate=self.climate(),
        )
        p = float(np.clip(served.model.predict(x)[0], 0.0, 1.0))
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
        request_id = str(uuid.uuid4())
        self.emit(
            NewEvent(
                state.PREDICTION_REQUESTED,
                state.customer_key(body.customer_id),
                state.prediction_payload(
                    request_id=request_id,
                    kind="availability",
                    customer_id=body.customer_id,
                    windows=[(body.window_start, body.window_end, p)],
                    model_version=served.label,
                    fallback=served.fallback,
                    basis=basis,
                ),
            )
        )
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
            "calendar": {"status": ctx.calendar.status, "conflicts": []},
            "weather": {
                "source": "climatology",
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


def factor_text(name: str, value: float, local: datetime, holiday: str | None) -> str:
    """One input in words, as a customer-service agent would say it."""
    day = local.strftime("%A")
    hour = f"{local.hour:02d}:00"
    rate = f"{value:.0%}"
    texts = {
        "rate_dow_hour": f"{day}s around {hour}: {rate} delivered (decayed, shrunk)",
        "rate_daytype_hour": f"{'weekends' if local.weekday() >= 5 else 'weekdays'} around "
        f"{hour}: {rate} delivered",
        "base_rate": f"{day}s in these hours: {rate} delivered so far",
        "rate_customer": f"this customer overall: {rate} delivered",
        "rate_28d": f"last 28 days: {rate} delivered",
        "n_attempts": f"{value:.0f} earlier attempts",
        "days_since_last": f"{value:.0f} days since the last attempt",
        "last_delivered": {
            1.0: "the last attempt was delivered",
            0.0: "the last attempt failed",
        }.get(value, "no earlier attempt"),
        "fails_same_day": f"{value:.0f} failed attempt(s) earlier that day",
        "delivered_same_day": f"{value:.0f} delivery(ies) earlier that day",
        "cal_busy_share": f"calendar busy {rate} of the window",
        "cal_busy_near": "a calendar event within an hour of the window"
        if value
        else "no calendar event near the window",
        "cal_all_day": "an all-day calendar event that day" if value else "no all-day event",
        "cal_known": "the customer's calendar is known" if value else "no calendar to read",
        "holiday": f"public holiday: {holiday}" if value and holiday else "not a public holiday",
        "preferred": "inside a window the customer prefers" if value else "not a preferred window",
        "blocked": "inside a window the customer blocked" if value else "not a blocked window",
        "precip_prob": f"chance of rain {rate} (climatology)",
        "precip_mm": f"{value:.2f} mm of rain expected (climatology)",
        "temp_c": f"{value:.0f} °C expected (climatology)",
        "start_hour": f"starts at {local:%H:%M}",
        "window_hours": f"a {value:g}-hour window",
        "weekday": f"a {day}",
        "weekend": "a weekend day" if value else "a weekday",
    }
    if name.startswith("type_"):
        kind = name.removeprefix("type_").replace("_", " ")
        return f"household type: {kind}" if value else f"household type is not {kind}"
    return texts.get(name, f"{name} = {value:g}")
