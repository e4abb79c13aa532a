"""A customer's model inputs for any set of windows: the one path that training, serving
and batches share, so a feature means the same thing in all three.

Everything here is NumPy on arrays already in memory (the profile, the attempts, the busy
intervals); reading them from the database is the caller's job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foresight.apps.delivery.context import holiday_name
from foresight.apps.delivery.features import (
    FEATURES,
    HOUSEHOLD_TYPES,
    WeeklyRanges,
    Windows,
    assemble,
    busy_features,
    compile_weekly,
    overlaps,
)
from foresight.apps.delivery.history import History, HistoryParams, history_features
from foresight.apps.delivery.weather import Climatology

# The household type one-hot: explicit columns, so the linear member reads a type as a
# type and not as a number on a line.
TYPE_FEATURES: tuple[str, ...] = tuple(f"type_{t}" for t in HOUSEHOLD_TYPES)
MODEL_FEATURES: tuple[str, ...] = FEATURES + TYPE_FEATURES
BASE_RATE = MODEL_FEATURES.index("base_rate")
_NO_BUSY = np.empty((0, 2), dtype=np.int64)
_NO_FLAGS = np.empty(0, dtype=bool)


@dataclass(frozen=True)
class Profile:
    """What the model reads of a customer's profile."""

    customer_id: str
    tz: ZoneInfo
    country: str
    subdivision: str | None
    household_type: str
    zone: str
    preferred: WeeklyRanges
    blocked: WeeklyRanges

    @classmethod
    def of(
        cls,
        customer_id: str,
        *,
        timezone: str,
        country: str,
        subdivision: str | None,
        household_type: str,
        zone: str,
        preferences: Mapping[str, Any] | None,
    ) -> Profile:
        """A profile from stored values (``preferences``: ``{preferred: […], blocked: […]}``)."""
        prefs = preferences or {}
        return cls(
            customer_id=customer_id,
            tz=ZoneInfo(timezone),
            country=country,
            subdivision=subdivision,
            household_type=household_type if household_type in HOUSEHOLD_TYPES else "unknown",
            zone=zone,
            preferred=compile_weekly(prefs.get("preferred") or []),
            blocked=compile_weekly(prefs.get("blocked") or []),
        )


def profiles_from(customers: pd.DataFrame) -> dict[str, Profile]:
    """Profiles of a customers table in the import shape (``customer_id, timezone,
    address_zone, household_type, country``, optional ``subdivision``, ``preferences`` as
    JSON text), such as the simulator writes."""
    out = {}
    for row in customers.to_dict("records"):
        prefs = row.get("preferences")
        sub = row.get("subdivision")
        out[str(row["customer_id"])] = Profile.of(
            str(row["customer_id"]),
            timezone=row["timezone"],
            country=row.get("country") or "US",
            subdivision=sub if isinstance(sub, str) and sub else None,
            household_type=row.get("household_type") or "unknown",
            zone=row["address_zone"],
            preferences=json.loads(prefs) if isinstance(prefs, str) and prefs else None,
        )
    return out


@dataclass(frozen=True)
class Calendar:
    """A customer's busy intervals as the model sees them: ``known`` only when the
    calendar is fresh (an upload, or a feed fetched recently); otherwise its features
    read "unknown", as for a customer with no calendar."""

    busy: np.ndarray = field(default_factory=lambda: _NO_BUSY)
    all_day: np.ndarray = field(default_factory=lambda: _NO_FLAGS)
    known: bool = False
    status: str = "none"  # none | fresh | stale | unavailable
    # The span [from, to) in UTC seconds the busy intervals were expanded over: a window
    # outside it reads "unknown" (an upload says nothing about a day past its horizon).
    covers: tuple[int, int] | None = None

    def busy_between(self, lo: int, hi: int, limit: int = 20) -> list[tuple[datetime, datetime]]:
        """The first ``limit`` busy intervals that overlap [lo, hi) (UTC epoch seconds),
        as UTC datetimes; none when the calendar is not known there."""
        if not self.known or len(self.busy) == 0:
            return []
        if self.covers is not None:
            lo, hi = max(lo, self.covers[0]), min(hi, self.covers[1])
        hit = self.busy[(self.busy[:, 1] > lo) & (self.busy[:, 0] < hi)][:limit]
        return [
            (datetime.fromtimestamp(int(a), UTC), datetime.fromtimestamp(int(b), UTC))
            for a, b in hit
        ]


NO_CALENDAR = Calendar()


def holidays(profile: Profile, w: Windows) -> tuple[np.ndarray, dict[date, str]]:
    """A public-holiday flag per window (by its local start date) and the names met."""
    if len(w) and w.local_day[0] == w.local_day[-1] and (w.local_day == w.local_day[0]).all():
        # One local day (optimal-time's hot path): one look-up, no set operations.
        day = date.fromordinal(int(w.local_day[0]))
        name = holiday_name(profile.country, profile.subdivision, day)
        return np.full(len(w), 1.0 if name else 0.0), ({day: name} if name else {})
    days = np.unique(w.local_day)
    names: dict[date, str] = {}
    for ordinal in days.tolist():
        day = date.fromordinal(ordinal)
        name = holiday_name(profile.country, profile.subdivision, day)
        if name:
            names[day] = name
    if not names:
        return np.zeros(len(w)), names
    hit = np.array([d.toordinal() for d in names], dtype=w.local_day.dtype)
    return np.isin(w.local_day, hit).astype(np.float64), names


def weather(w: Windows, climate: Climatology) -> np.ndarray:
    """(n, 3) precip_mm, precip_prob, temp_c at each window's local middle hour.

    The climatology of the window's month and hour: what the model also trains on, so a
    forecast provider (later) shifts the inputs without changing their meaning.
    """
    middle = np.floor(w.start_hour + w.hours / 2.0).astype(np.int64) % 24
    months = _months(w.local_day)
    temp, prob, precip = climate.at(months, middle)
    return np.column_stack([precip, prob, temp])


def _months(local_day: np.ndarray) -> np.ndarray:
    days = np.unique(local_day)
    month_of = np.array([date.fromordinal(int(d)).month for d in days], dtype=np.int64)
    return month_of[np.searchsorted(days, local_day)]


def _calendar_inputs(calendar: Calendar, w: Windows) -> np.ndarray:
    out = busy_features(w, calendar.busy, calendar.all_day, known=calendar.known)
    if calendar.known and calendar.covers is not None:
        lo, hi = calendar.covers
        out[(w.start < lo) | (w.end > hi)] = 0.0
    return out


def matrix(
    profile: Profile,
    history: History,
    calendar: Calendar,
    w: Windows,
    *,
    params: HistoryParams,
    climate: Climatology,
) -> np.ndarray:
    """(n, len(MODEL_FEATURES)) float64: every input of the availability model for the
    windows ``w``; each window sees only the attempts before its start."""
    hist = history_features(
        history,
        start=w.start,
        start_hour=w.start_hour,
        hours=w.hours,
        weekday=w.weekday,
        local_day=w.local_day,
        params=params,
    )
    flags, _ = holidays(profile, w)
    core = assemble(
        w,
        holiday=flags,
        preferred=overlaps(profile.preferred, w).astype(np.float64),
        blocked=overlaps(profile.blocked, w).astype(np.float64),
        history=hist,
        calendar=_calendar_inputs(calendar, w),
        weather=weather(w, climate),
    )
    types = np.zeros((len(w), len(TYPE_FEATURES)))
    types[:, HOUSEHOLD_TYPES.index(profile.household_type)] = 1.0
    return np.hstack([core, types])
