"""Which windows to offer, and the week at a glance: ``Planning`` (part of
``PredictionPart``) answers ``optimal-time`` and the heat map from the window grid over
the asked days (``span``) and the choice among the scored windows (``choose``).

A window is left out, under the first reason that applies, if it starts before now, if it
overlaps a window the customer blocked (unless preferences are ignored), or if the
customer's calendar shows them busy in it (unless conflicts are allowed). The rest are
ranked by probability (a preferred window as if ``preferred_bonus`` likelier), the earlier
window first on a tie.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from foresight.apps.delivery import state
from foresight.apps.delivery.checks import EARLIEST, LATEST
from foresight.apps.delivery.features import WEEKDAYS, Windows, describe, grid_windows, wall_hours
from foresight.apps.delivery.forecast import Forecast, apply_forecast
from foresight.apps.delivery.history import HistoryParams
from foresight.apps.delivery.inputs import MODEL_FEATURES, holidays, matrix
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.schemas_predict import OptimalTimeRequest
from foresight.apps.delivery.weather import Climatology
from foresight.platform.errors import InvalidInput
from foresight.platform.events import NewEvent
from foresight.platform.serving import Served

_COLUMN = {name: i for i, name in enumerate(MODEL_FEATURES)}
WEATHER_COLUMNS = slice(_COLUMN["precip_mm"], _COLUMN["temp_c"] + 1)  # forecast's order


def span(days: Sequence[date], tz: ZoneInfo, *, first: time, last: time, minutes: int) -> Windows:
    """Back-to-back windows of ``minutes`` from local ``first`` to ``last`` on each day."""
    grids = [grid_windows(day, tz, first=first, last=last, minutes=minutes) for day in days]
    if len(grids) == 1:
        return grids[0]  # the hot path: one cached day, no copy
    return Windows(
        *(
            np.concatenate([getattr(g, name) for g in grids])
            for name in ("start", "end", "start_hour", "hours", "weekday", "local_day")
        )
    )


@dataclass(frozen=True)
class Choice:
    """The chosen windows' indices (best first) and how many were left out, by reason."""

    order: np.ndarray
    excluded: dict[str, int]


def choose(
    p: np.ndarray,
    start: np.ndarray,
    *,
    now: int,
    blocked: np.ndarray,
    busy: np.ndarray,
    top_k: int,
    respect_preferences: bool = True,
    allow_conflicts: bool = False,
    preferred: np.ndarray | None = None,
    bonus: float = 0.0,
) -> Choice:
    """The ``top_k`` windows to offer among those scored ``p`` (see the module docstring).

    ``start`` is each window's UTC start (epoch seconds); one starting before ``now``
    (the time of asking plus the notice needed) is "past". ``blocked``, ``busy`` and
    ``preferred`` are boolean masks; with preferences respected a preferred window ranks
    as if ``bonus`` likelier (its probability is not changed).
    """
    left = np.ones(p.shape[0], dtype=bool)
    excluded = {}
    for reason, mask in (
        ("past", start < now),
        ("blocked", blocked if respect_preferences else np.zeros_like(left)),
        ("calendar", busy if not allow_conflicts else np.zeros_like(left)),
    ):
        out = left & mask
        excluded[reason] = int(out.sum())
        left &= ~out
    candidates = np.flatnonzero(left)
    score = p if preferred is None or not respect_preferences else p + bonus * preferred
    # A stable sort of -score over candidates in time order: ties go to the earlier window.
    ranked = candidates[np.argsort(-score[candidates], kind="stable")]
    return Choice(order=ranked[:top_k], excluded=excluded)


class Planning:
    """``optimal_time`` and ``heatmap`` for ``PredictionPart``, which provides the
    attributes and the two methods declared here."""

    settings: DeliverySettings
    serve: Callable[[], Served]
    climate: Callable[[], Climatology]
    emit: Callable[[NewEvent], None]
    clock: Callable[[], datetime]
    forecast_of: Callable[[Any], Forecast | None]

    def context(self, customer_id: str) -> Any:
        raise NotImplementedError

    def params(self, served: Served) -> HistoryParams:
        raise NotImplementedError

    def scored(self, ctx: Any, served: Served, w: Windows) -> tuple[np.ndarray, np.ndarray, str]:
        """The model inputs of the windows ``w`` for the customer ``ctx``, P(delivered),
        and the weather's source ("http" when a cached forecast covered every window)."""
        x = matrix(
            ctx.profile,
            ctx.history,
            ctx.calendar,
            w,
            params=self.params(served),
            climate=self.climate(),
        )
        forecast = self.forecast_of(ctx.profile)
        covered = apply_forecast(x, w.start, w.end, forecast, WEATHER_COLUMNS)
        return x, np.clip(served.model.predict(x), 0.0, 1.0), "http" if covered else "climatology"

    def requested(
        self,
        customer_id: str,
        kind: str,
        windows: Sequence[tuple[datetime, datetime, float]],
        served: Served,
        basis: str,
        *,
        job_id: str | None = None,
    ) -> str:
        """Emit the request's ``PredictionRequested`` event; returns its request id."""
        request_id = str(uuid.uuid4())
        payload = state.prediction_payload(
            request_id=request_id,
            kind=kind,
            customer_id=customer_id,
            windows=windows,
            model_version=served.label,
            fallback=served.fallback,
            basis=basis,
            job_id=job_id,
        )
        self.emit(NewEvent(state.PREDICTION_REQUESTED, state.customer_key(customer_id), payload))
        return request_id

    def optimal_time(
        self, body: OptimalTimeRequest, *, actor: str | None = None, ctx: Any = None
    ) -> dict[str, Any]:
        """The best ``top_k`` windows over the asked days, with what was left out and why
        (``ctx``: the customer's context if the caller holds it)."""
        ctx = ctx or self.context(body.customer_id)
        served = self.serve()
        tz = ctx.profile.tz
        try:
            first, last = body.hours(self.settings.business_start, self.settings.business_end)
        except ValueError as exc:  # only with a default: the request checked its own pair
            field = "earliest" if body.earliest else "latest"  # the one the request gave
            raise InvalidInput(str(exc), details=[{"field": field, "message": str(exc)}]) from None
        w = span(body.days(), tz, first=first, last=last, minutes=body.window_minutes)
        if len(w):
            x, p, source = self.scored(ctx, served, w)
        else:  # a clock change skipped every hour asked for
            x, p, source = np.zeros((0, len(MODEL_FEATURES))), np.zeros(0), "none"
        busy = x[:, _COLUMN["cal_busy_share"]] > 0
        preferred = x[:, _COLUMN["preferred"]] > 0
        now = self.clock()
        choice = choose(
            p,
            w.start,
            now=int(now.timestamp()) + 60 * self.settings.min_notice_minutes,
            blocked=x[:, _COLUMN["blocked"]] > 0,
            busy=busy,
            top_k=body.top_k,
            respect_preferences=body.respect_preferences,
            allow_conflicts=body.allow_conflicts,
            preferred=preferred,
            bonus=self.settings.preferred_bonus,
        )
        _, names = holidays(ctx.profile, w)
        # What the answer rests on is judged on the windows it offers (all, if none).
        offered = choice.order if len(choice.order) else np.arange(len(w))
        unread = ctx.calendar.status != "none" and not x[offered, _COLUMN["cal_known"]].all()
        warnings = []
        if unread:
            status = "stale" if ctx.calendar.status == "fresh" else ctx.calendar.status
            what = "does not reach every window" if ctx.calendar.known else status
            warnings.append(f"calendar {what}: conflicts there are unknown (history only)")
        if not len(w):
            warnings.append(
                f"no window between {first:%H:%M} and {last:%H:%M} on the dates asked: a "
                "clock change skips those hours there"
            )
        elif not len(choice.order):
            reasons = ", ".join(f"{n} {k}" for k, n in choice.excluded.items() if n)
            warnings.append(f"no window left of {len(w)}: {reasons}")
        windows = []
        for rank, i in enumerate(choice.order.tolist(), start=1):
            start = datetime.fromtimestamp(int(w.start[i]), UTC)
            end = datetime.fromtimestamp(int(w.end[i]), UTC)
            windows.append(
                {
                    "rank": rank,
                    "start": start,
                    "end": end,
                    "start_local": start.astimezone(tz).isoformat(),
                    "end_local": end.astimezone(tz).isoformat(),
                    "probability": round(float(p[i]), 4),
                    "preferred": bool(preferred[i]),
                    "busy": bool(busy[i]),
                }
            )
        basis = "history_only" if unread else "model"
        chosen = [(r["start"], r["end"], r["probability"]) for r in windows]
        request_id = self.requested(body.customer_id, "optimal_time", chosen, served, basis)
        return {
            "request_id": request_id,
            "customer_id": body.customer_id,
            "timezone": tz.key,
            "windows": windows,
            "considered": len(w),
            "excluded": choice.excluded,
            "basis": basis,
            "fallback": served.fallback,
            "model_version": served.label,
            "calendar": {
                "status": ctx.calendar.status,
                "conflicts": (
                    ctx.calendar.busy_between(int(w.start.min()), int(w.end.max()))
                    if len(w)
                    else []
                ),
            },
            "weather": {"source": source},
            "holidays": {day.isoformat(): name for day, name in names.items()},
            "warnings": warnings,
            "generated_at": now,
        }

    def heatmap(self, customer_id: str, week_of: date | None = None) -> dict[str, Any]:
        """The model's probability for each local hour × weekday of one week (1-hour
        windows; the week holding ``week_of``, this week by default) beside the observed
        share delivered and the attempt count per cell of the customer's history."""
        if week_of is not None and not EARLIEST.date() <= week_of < LATEST.date():
            message = f"must be between {EARLIEST.year} and {LATEST.year}; got {week_of}"
            raise InvalidInput(
                f"week_of {message}", details=[{"field": "week_of", "message": message}]
            )
        ctx = self.context(customer_id)
        served = self.serve()
        tz = ctx.profile.tz
        day = week_of or self.clock().astimezone(tz).date()
        monday = day - timedelta(days=day.weekday())
        days = [monday + timedelta(days=i) for i in range(7)]
        # One window per clock hour: a skipped hour stays empty, a repeated one is 2 h.
        start, end, cells = wall_hours(days, tz)
        w = describe(start, end, tz)
        _, p, _ = self.scored(ctx, served, w)
        predicted: list[list[float | None]] = [[None] * 24 for _ in range(7)]
        for cell, value in zip(cells.tolist(), p.tolist(), strict=True):
            predicted[cell // 24][cell % 24] = round(value, 4)
        h = ctx.history
        tried = np.zeros((7, 24), dtype=np.int64)
        done = np.zeros((7, 24), dtype=np.int64)
        hours = np.floor(h.local_hour).astype(np.int64)
        np.add.at(tried, (h.weekday.astype(np.int64), hours), 1)
        np.add.at(done, (h.weekday.astype(np.int64), hours), h.delivered.astype(np.int64))
        observed = [
            [round(done[d, i] / tried[d, i], 4) if tried[d, i] else None for i in range(24)]
            for d in range(7)
        ]
        _, names = holidays(ctx.profile, w)
        return {
            "customer_id": customer_id,
            "timezone": tz.key,
            "week_of": monday,
            "weekdays": list(WEEKDAYS),
            "hours": list(range(24)),
            "predicted": predicted,
            "observed_rate": observed,
            "attempts": tried.tolist(),
            "holidays": {d.isoformat(): name for d, name in names.items()},
            "model_version": served.label,
            "fallback": served.fallback,
            "generated_at": self.clock(),
        }
