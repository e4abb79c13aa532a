"""Settings and the event bodies of the pricing app (the seed's event types).

An event is one JSON object, told apart by ``event_type``; ``POST events`` takes one or
an array of up to 1,000 (``intake.parse_events`` validates them and names each bad
one's index). Times must carry a zone: a naive time is a guess at best.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from foresight.platform.apps import AppSettings

REGION = r"^[a-z0-9][a-z0-9-]{0,49}$"
EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
PRODUCT = r"^[a-z0-9][a-z0-9_-]{0,49}$"


class PricingSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="FORESIGHT_PRICING_", extra="ignore")

    train_schedule: str = "weekly sun 02:00"  # the seed's Sunday 02:00 UTC
    partitions: int = Field(8, ge=1, le=64)
    batch_max: int = Field(1000, ge=1, le=10_000)
    max_future_s: int = Field(300, ge=0, description="How far ahead an event's time may be.")
    max_event_age_days: float = Field(7.0, gt=0, description="How old an event may be.")
    allowed_lateness_s: int = Field(60, ge=0)
    events_rate: str = Field("2000000/minute", description="Events per API key (limits syntax).")


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    event_id: str = Field(
        pattern=EVENT_ID,
        description="Unique per event: a repeat is acknowledged and counted once.",
        examples=["bk-2026-01-11-000123"],
    )
    region_id: str = Field(pattern=REGION, examples=["sg-central"])
    timestamp: AwareDatetime = Field(description="When it happened, with a zone.")
    metadata: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, max_length=20
    )


class SearchEvent(_Event):
    event_type: Literal["search"]
    user_id: str | None = Field(None, max_length=100)
    product_type: str | None = Field(None, pattern=PRODUCT)


class BookingEvent(_Event):
    event_type: Literal["booking"]
    user_id: str | None = Field(None, max_length=100)
    product_type: str = Field(pattern=PRODUCT, examples=["standard_ride"])
    quote_id: str | None = Field(None, max_length=100, description="The quote it accepted.")
    price: float | None = Field(None, ge=0, le=1_000_000)


class CancelEvent(_Event):
    event_type: Literal["cancel"]
    booking_id: str | None = Field(None, max_length=100)
    user_id: str | None = Field(None, max_length=100)


class SupplyEvent(_Event):
    event_type: Literal["supply_update"]
    available: int = Field(ge=0, le=1_000_000, description="Drivers free now.")
    busy: int = Field(ge=0, le=1_000_000, description="Drivers on a trip now.")


class SignalEvent(_Event):
    event_type: Literal["external_signal"]
    signal: Literal["rain_mm", "event_attendance", "traffic_index"]
    value: float = Field(ge=0, le=1e9)


EventIn = Annotated[
    SearchEvent | BookingEvent | CancelEvent | SupplyEvent | SignalEvent,
    Field(discriminator="event_type"),
]
EVENT_TYPES = ("search", "booking", "cancel", "supply_update", "external_signal")


class Rejected(BaseModel):
    index: int
    field: str
    message: str


class EventsAccepted(BaseModel):
    """What ``POST events`` did: new events stored, repeats acknowledged, bad ones named."""

    accepted: int
    duplicates: int
    rejected: list[Rejected]


def payload_of(event: Any) -> dict[str, Any]:
    """The stored form of a validated event (JSON-ready; the time as ISO text)."""
    data: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    return data
