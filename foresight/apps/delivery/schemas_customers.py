"""Request and response bodies of the customer, attempt and event routes (plan §6). Every
body refuses unknown fields and NaN/Infinity, and every message says what to fix; the
checks they share are in ``checks``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from foresight.apps.delivery.checks import (
    HH_MM,
    TIMEZONE_HINT,
    attempt_time_problem,
    check_customer_id,
    check_timezone,
    checked_time,
    checked_window_end,
)

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HouseholdType = Literal[
    "commuter", "remote_worker", "shift_worker", "retired", "student", "parent", "unknown"
]
FailureReason = Literal["not_home", "no_answer", "no_access", "refused", "wrong_address", "other"]
FAILURE_REASONS: tuple[str, ...] = FailureReason.__args__  # type: ignore[attr-defined]
HOUSEHOLD_TYPES: tuple[str, ...] = HouseholdType.__args__  # type: ignore[attr-defined]
MAX_WINDOWS = 20


class Body(BaseModel):
    """Base of every delivery body: unknown fields and NaN/Infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class WeeklyWindow(Body):
    """Every listed weekday, from ``start`` to ``end`` local time; an ``end`` before
    ``start`` runs overnight into the next day, ``"24:00"`` ends at midnight."""

    days: list[Day] = Field(min_length=1, max_length=7)
    start: str = Field(examples=["18:00"])
    end: str = Field(examples=["21:00"])

    @field_validator("days")
    @classmethod
    def _unique(cls, days: list[str]) -> list[str]:
        repeated = sorted({d for d in days if days.count(d) > 1})
        if repeated:
            raise ValueError(f"days must not repeat: {', '.join(repeated)} listed twice")
        return days

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not HH_MM.match(value):
            raise ValueError(f"start must be HH:MM from 00:00 to 23:59, got {value[:20]!r}")
        return value

    @field_validator("end")
    @classmethod
    def _end(cls, value: str, info: ValidationInfo) -> str:
        if value != "24:00" and not HH_MM.match(value):
            raise ValueError(f"end must be HH:MM or 24:00, got {value[:20]!r}")
        if value == info.data.get("start"):
            raise ValueError("end must differ from start (a whole day is 00:00 to 24:00)")
        return value


class Preferences(Body):
    """Windows the customer prefers, and windows never to deliver in (local time)."""

    preferred: list[WeeklyWindow] = Field(default_factory=list, max_length=MAX_WINDOWS)
    blocked: list[WeeklyWindow] = Field(default_factory=list, max_length=MAX_WINDOWS)


class _Profile(Body):
    """The profile fields and their checks, shared by create and patch."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2; default: the setting."
    )
    subdivision: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9-]{1,10}$", description="e.g. NY (holidays)."
    )


class CustomerIn(_Profile):
    """A new customer."""

    model_config = ConfigDict(
        # ``timezone`` is optional to pydantic only so that leaving it out gets our message.
        json_schema_extra={"required": ["customer_id", "timezone", "address_zone"]},
    )

    customer_id: str = Field(examples=["c-00001"])
    timezone: str | None = Field(default=None, validate_default=True, examples=["America/New_York"])
    address_zone: str = Field(min_length=1, max_length=50, examples=["Z01"])
    household_type: HouseholdType = "unknown"
    preferences: Preferences = Field(default_factory=Preferences)

    @field_validator("customer_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_customer_id(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str:
        if value is None:
            raise ValueError(f"timezone is required: {TIMEZONE_HINT}")
        return check_timezone(value)

    def profile(self, default_country: str) -> dict[str, Any]:
        """The profile as stored and published (``address_zone`` is ``zone`` there)."""
        return {
            "display_name": self.display_name,
            "timezone": self.timezone,
            "zone": self.address_zone,
            "lat": self.lat,
            "lon": self.lon,
            "country": self.country or default_country,
            "subdivision": self.subdivision,
            "household_type": self.household_type,
            "preferences": self.preferences.model_dump(),
        }


class CustomerPatch(_Profile):
    """Fields to change; a field left out stays, ``null`` clears a nullable one (and
    empties ``preferences``)."""

    timezone: str | None = None
    address_zone: str | None = Field(default=None, min_length=1, max_length=50)
    household_type: HouseholdType | None = None
    preferences: Preferences | None = None

    @field_validator("timezone", "address_zone", "country", "household_type")
    @classmethod
    def _not_cleared(cls, value: str | None, info: ValidationInfo) -> str:
        # Runs only for fields sent: a null here is an explicit attempt to clear.
        if value is None:
            hint = {"timezone": TIMEZONE_HINT, "household_type": '"unknown"'}
            raise ValueError(
                f"{info.field_name} cannot be cleared; send "
                + hint.get(str(info.field_name), "a value")
            )
        return check_timezone(value) if info.field_name == "timezone" else value

    def changes(self) -> dict[str, Any]:
        """The fields sent, by their stored names, with their new values."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "preferences":
                value = (value or Preferences()).model_dump()
            out["zone" if name == "address_zone" else name] = value
        return out


class Customer(Body):
    """A stored customer."""

    customer_id: str
    timezone: str
    address_zone: str
    display_name: str | None
    lat: float | None
    lon: float | None
    country: str
    subdivision: str | None
    household_type: str
    preferences: Preferences
    version: int = Field(description="Send it as If-Match to PATCH only this version.")
    attempts: int
    created_at: datetime
    updated_at: datetime


class CustomerSummary(Body):
    """One row of the customer list."""

    customer_id: str
    address_zone: str
    household_type: str
    timezone: str
    version: int
    attempts: int
    updated_at: datetime


class AttemptIn(Body):
    """One delivery attempt at a customer, with the window it was promised for."""

    attempted_at: datetime
    window_start: datetime
    window_end: datetime
    delivered: bool
    failure_reason: FailureReason | None = Field(default=None, validate_default=True)
    request_id: uuid.UUID | None = Field(
        default=None, description="The prediction's request_id this attempt followed, if any."
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A repeat returns the stored attempt.",
    )

    @field_validator("attempted_at", "window_start", "window_end")
    @classmethod
    def _offset(cls, value: datetime, info: ValidationInfo) -> datetime:
        return checked_time(value, info)

    @field_validator("window_end")
    @classmethod
    def _window(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = checked_window_end(value, info)
        start = info.data.get("window_start")
        at = info.data.get("attempted_at")
        if (
            start is not None
            and at is not None
            and (problem := attempt_time_problem(at, start, value))
        ):
            raise ValueError(f"attempted_at {problem}")
        return value

    @field_validator("failure_reason")
    @classmethod
    def _reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        delivered = info.data.get("delivered")
        if delivered is True and value is not None:
            raise ValueError("failure_reason must be empty when delivered is true")
        if delivered is False and value is None:
            raise ValueError(
                "failure_reason is required when delivered is false: one of "
                + ", ".join(FAILURE_REASONS)
            )
        return value


class Attempt(Body):
    """A stored attempt; ``event_offset`` is its ``DeliveryAttempted`` event."""

    event_offset: int
    customer_id: str
    attempted_at: datetime
    window_start: datetime
    window_end: datetime
    delivered: bool
    failure_reason: str | None
    request_id: str | None
    precip_mm: float | None
    temp_c: float | None
    weather_source: str | None
    source: str
    outcome_matched: str | None = Field(
        default=None, description="The request_id of the prediction this outcome was matched to."
    )


@dataclass(frozen=True, slots=True)
class AttemptWeather:
    """The weather of an attempt's hour, looked up before the write (never inside it)."""

    precip_mm: float | None
    temp_c: float | None
    source: str


class EventOut(Body):
    """One event of a customer, as the log stores it."""

    offset: int
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


class ImportResponse(Body):
    """What a customer import did: every row was accepted, or none was."""

    rows: int
    created: int
    updated: int
    unchanged: int
    message: str
