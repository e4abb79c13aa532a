"""Request and response bodies of the kitchen and delivery routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
Method = Literal["blend", "rate_rule", "default"]


class BasketLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=100, description="A menu item (see /menu).")
    size: str | None = Field(
        None, min_length=1, max_length=20, description="Needed when the item has several sizes."
    )
    quantity: int = Field(1, ge=1, le=50)


class KitchenRequest(BaseModel):
    """A ticket: its basket, when it is placed, and the kitchen's load if you know it."""

    model_config = ConfigDict(extra="forbid")

    items: list[BasketLine] = Field(min_length=1, max_length=100)
    ordered_at: datetime | None = Field(
        None, description="When the order is placed (local time if no zone); default now."
    )
    open_tickets: int | None = Field(
        None, ge=0, le=10_000, description="Tickets not ready yet; default from the mirror."
    )
    items_in_queue: int | None = Field(None, ge=0, le=100_000)
    orders_last_15m: int | None = Field(None, ge=0, le=10_000)
    orders_last_60m: int | None = Field(None, ge=0, le=10_000)


class DeliveryRequest(BaseModel):
    """A delivery: when (hour of the day, weekday), how far, and what (items or a count)."""

    model_config = ConfigDict(extra="forbid")

    hour: float = Field(ge=0, lt=24, description="Decimal hour of the order, local (18.5 = 18:30).")
    day: Day
    distance: float = Field(ge=0, le=1000, description="In the RMS's own unit.")
    items: list[BasketLine] | None = Field(None, min_length=1, max_length=100)
    item_count: int | None = Field(
        None, ge=1, le=1000, description="Instead of items, when the basket is not itemised."
    )


class Load(BaseModel):
    open_tickets: int
    items_in_queue: int
    orders_last_15m: int
    orders_last_60m: int
    source: Literal["request", "mirror", "request+mirror"]


class Timed(BaseModel):
    lower: float = Field(description="Lower end of the interval (minutes).")
    upper: float = Field(description="Upper end of the interval (minutes).")
    level: int = Field(90, description="Interval level, % (the default link's is nominal).")
    method: Method
    warnings: list[dict[str, object]] = Field(
        default_factory=list, description="Values outside what the model saw in training."
    )
    model_version: str
    fallback: str | None = Field(description="null, previous_production, rule_baseline or default.")
    cached: bool


class KitchenResponse(Timed):
    ticket_minutes: float
    ordered_at: str = Field(description="The moment the answer is for (local time).")
    load: Load


class StationTime(BaseModel):
    station_id: str
    median: float
    p10: float
    p90: float
    lines: int = Field(description="Order lines behind the figures.")


class KitchenItemResponse(Timed):
    item_id: str
    size: str | None
    stations: list[StationTime] = Field(description="Minutes per station, last 28 days.")
    ticket_minutes: float = Field(description="One of this item ordered at ``ordered_at``.")
    ordered_at: str


class DeliveryResponse(Timed):
    delivery_minutes: float
