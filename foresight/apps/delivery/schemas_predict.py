"""Request and answer bodies of the delivery predictions (``/api/v1/delivery/predict/…``)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from foresight.apps.delivery.checks import (
    EARLIEST,
    HH_MM,
    LATEST,
    check_customer_id,
    checked_time,
    checked_window_end,
)

Basis = Literal["model", "history_only"]
Confidence = Literal["low", "medium", "high"]


class AvailabilityRequest(BaseModel):
    """Will the customer be home to receive a delivery in this window?"""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    customer_id: str = Field(max_length=100, examples=["c-00042"])
    window_start: datetime = Field(examples=["2025-06-03T14:00:00-04:00"])
    window_end: datetime = Field(examples=["2025-06-03T16:00:00-04:00"])
    # Strict: JSON's 0 is not false, nor "3" a number (a schema says so; lax parsing not).
    explain: bool = Field(
        True, strict=True, description="Say which inputs moved the probability most."
    )
    top: int = Field(3, ge=1, le=10, strict=True, description="How many factors to name.")

    @field_validator("customer_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_customer_id(value)

    @field_validator("window_start", "window_end")
    @classmethod
    def _offset(cls, value: datetime, info: ValidationInfo) -> datetime:
        return checked_time(value, info)

    @field_validator("window_end")
    @classmethod
    def _window(cls, value: datetime, info: ValidationInfo) -> datetime:
        return checked_window_end(value, info)


class Factor(BaseModel):
    feature: str
    value: float
    effect: float = Field(description="Change in probability this input makes.")
    text: str


class Evidence(BaseModel):
    attempts: int = Field(description="Earlier delivery attempts to this customer.")
    attempts_near_this_time: float = Field(
        description="Effective attempts on the same kind of day near this hour (decayed)."
    )


class CalendarInfo(BaseModel):
    status: Literal["none", "fresh", "stale", "unavailable"]
    conflicts: list[list[datetime]] = Field(
        default_factory=list,
        description="[start, end] of the calendar's busy intervals over the window(s) "
        "asked about (UTC, the first 20); empty when the calendar is not known there.",
    )


class WeatherInfo(BaseModel):
    source: Literal["climatology", "http", "none"]
    precip_prob: float | None = None
    temp_c: float | None = None


class LocalWindow(BaseModel):
    start: str
    end: str
    timezone: str


class AvailabilityResponse(BaseModel):
    request_id: str
    customer_id: str
    window_start: datetime
    window_end: datetime
    window_local: LocalWindow
    probability: float
    confidence: Confidence
    evidence: Evidence
    factors: list[Factor]
    basis: Basis
    fallback: str | None
    model_version: str
    calendar: CalendarInfo
    weather: WeatherInfo
    holiday: str | None
    preferred: bool
    blocked: bool
    warnings: list[str]
    generated_at: datetime


# ---- optimal time ------------------------------------------------------------------------
MAX_DAYS = 14


def _clock_minutes(value: str, field: str, *, end: bool) -> int:
    """Minutes after midnight of an "HH:MM" (for an end, "24:00" and "00:00" are midnight at
    the end of the day)."""
    if end and value in ("24:00", "00:00"):
        return 1440
    if not HH_MM.match(value):
        raise ValueError(f"{field} must be a time such as 08:00 (HH:MM, 24-hour); got {value!r}")
    return int(value[:2]) * 60 + int(value[3:])


class OptimalTimeRequest(BaseModel):
    """Which windows of a day (or of up to 14 days) is the customer most likely home in?"""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    customer_id: str = Field(max_length=100, examples=["c-00042"])
    # Strict types (a date as text, never a number of seconds; JSON's 0 is not false).
    date: dt.date | None = Field(
        None, strict=True, description="One local date; or give date_from/date_to."
    )
    date_from: dt.date | None = Field(None, strict=True, description="First local date of a range.")
    date_to: dt.date | None = Field(
        None,
        strict=True,
        description=f"Last local date of the range (inclusive; at most {MAX_DAYS} days).",
    )
    window_minutes: int = Field(30, ge=15, le=720, multiple_of=15, strict=True)
    top_k: int = Field(3, ge=1, le=20, strict=True, description="How many windows to return.")
    earliest: str | None = Field(
        None,
        description="Local time the first window may start (HH:MM); default: the "
        "deployment's business start (FORESIGHT_DELIVERY_BUSINESS_START, 08:00).",
    )
    latest: str | None = Field(
        None,
        description="Local time the last window must end by (HH:MM; 24:00 = midnight); "
        "default: the business end (FORESIGHT_DELIVERY_BUSINESS_END, 21:00).",
    )
    respect_preferences: bool = Field(
        True, strict=True, description="Leave out windows the customer blocked."
    )
    allow_conflicts: bool = Field(
        False, strict=True, description="Offer windows the customer's calendar shows as busy."
    )

    @field_validator("customer_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_customer_id(value)

    @field_validator("earliest")
    @classmethod
    def _earliest(cls, value: str | None) -> str | None:
        if value is not None:
            _clock_minutes(value, "earliest", end=False)
        return value

    @field_validator("latest")
    @classmethod
    def _latest(cls, value: str | None) -> str | None:
        if value is not None:
            _clock_minutes(value, "latest", end=True)
        return value

    @model_validator(mode="after")
    def _range(self) -> OptimalTimeRequest:
        if self.date is not None and (self.date_from is not None or self.date_to is not None):
            raise ValueError("give either date or date_from/date_to, not both")
        if self.date is None and self.date_from is None:
            raise ValueError("date is required (or date_from, with an optional date_to)")
        first, last = self.days_asked()
        for name, day in (("date", first), ("date_to", last)):
            if not EARLIEST.date() <= day < LATEST.date():
                raise ValueError(
                    f"{name} must be between {EARLIEST.year} and {LATEST.year}; got {day}"
                )
        if last < first:
            raise ValueError(f"date_to ({last}) is before date_from ({first})")
        if (last - first).days + 1 > MAX_DAYS:
            raise ValueError(
                f"at most {MAX_DAYS} days at once; {first} to {last} is {(last - first).days + 1}"
            )
        if self.earliest is not None and self.latest is not None:
            self.hours(self.earliest, self.latest)
        return self

    def days_asked(self) -> tuple[dt.date, dt.date]:
        """The first and last local date asked for."""
        first = self.date if self.date is not None else self.date_from
        assert first is not None  # the validator requires one
        return first, self.date_to if self.date_to is not None else first

    def days(self) -> list[dt.date]:
        """Every local date asked for, in order."""
        first, last = self.days_asked()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def hours(self, start: str, end: str) -> tuple[dt.time, dt.time]:
        """The grid's first and last local time (``time(0)`` as the last is midnight):
        ``earliest`` and ``latest``, or ``start`` and ``end`` where they are not given.
        A ``ValueError`` if no window fits between them."""
        earliest, latest = self.earliest or start, self.latest or end
        begin = _clock_minutes(earliest, "earliest", end=False)
        finish = _clock_minutes(latest, "latest", end=True)
        if finish - begin < self.window_minutes:
            raise ValueError(
                f"earliest {earliest} to latest {latest} holds no window of "
                f"{self.window_minutes} minutes"
            )
        return dt.time(begin // 60, begin % 60), dt.time(finish % 1440 // 60, finish % 60)


class RankedWindow(BaseModel):
    rank: int
    start: datetime
    end: datetime
    start_local: str
    end_local: str
    probability: float
    preferred: bool
    busy: bool = Field(description="The calendar shows the customer busy (allow_conflicts).")


class Excluded(BaseModel):
    past: int = Field(
        description="Windows that start before now plus the notice a delivery needs "
        "(FORESIGHT_DELIVERY_MIN_NOTICE_MINUTES, 60)."
    )
    blocked: int = Field(description="Windows that overlap one the customer blocked.")
    calendar: int = Field(description="Windows the customer's calendar shows as busy.")


class OptimalTimeResponse(BaseModel):
    request_id: str
    customer_id: str
    timezone: str
    windows: list[RankedWindow] = Field(description="Best first.")
    considered: int = Field(description="Windows scored, before any was left out.")
    excluded: Excluded
    basis: Basis
    fallback: str | None
    model_version: str
    calendar: CalendarInfo
    weather: WeatherInfo
    holidays: dict[str, str] = Field(description="Public holidays among the dates, by date.")
    warnings: list[str]
    generated_at: datetime


class HeatmapResponse(BaseModel):
    customer_id: str
    timezone: str
    week_of: dt.date = Field(description="The Monday of the week the probabilities are for.")
    weekdays: list[str]
    hours: list[int]
    predicted: list[list[float | None]] = Field(
        description="[weekday][hour]: P(delivered) for the 1-hour window starting then "
        "(null for an hour a DST change skips)."
    )
    observed_rate: list[list[float | None]] = Field(
        description="[weekday][hour]: share delivered of the attempts made then (null: none)."
    )
    attempts: list[list[int]] = Field(description="[weekday][hour]: attempts made then.")
    holidays: dict[str, str]
    model_version: str
    fallback: str | None
    generated_at: datetime


# ---- batch -----------------------------------------------------------------------------
class BatchPair(BaseModel):
    """One customer and window; its contents are checked by the job, so a bad pair is a
    row error in the results, not a refused batch."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(max_length=200, examples=["c-00042"])
    window_start: str = Field(max_length=64, examples=["2025-06-03T14:00:00-04:00"])
    window_end: str = Field(max_length=64, examples=["2025-06-03T16:00:00-04:00"])


class BatchRequest(BaseModel):
    """Pairs to score in the background (a CSV upload with the same three columns suits
    large batches: JSON bodies are capped by FORESIGHT_MAX_BODY_BYTES)."""

    model_config = ConfigDict(extra="forbid")

    pairs: list[BatchPair] = Field(min_length=1)


class BatchResult(BaseModel):
    """One scored pair (``GET /api/v1/jobs/{id}/results``); row errors are in the job."""

    row: int
    customer_id: str
    window_start: str
    window_end: str
    probability: float
    basis: Basis
    calendar_conflict: bool
    model_version: str
