"""Request and answer bodies of the delivery predictions (``/api/v1/delivery/predict/…``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from foresight.apps.delivery.checks import (
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
    explain: bool = Field(True, description="Say which inputs moved the probability most.")
    top: int = Field(3, ge=1, le=10, description="How many factors to name.")

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
    conflicts: list[tuple[datetime, datetime]] = Field(default_factory=list)


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
