"""Settings (``FORESIGHT_RESTAURANT_*``) and the request and response bodies of the
restaurant API."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from foresight.apps.restaurant.hours import OpeningHours
from foresight.platform.apps import AppSettings
from foresight.platform.errors import InvalidInput


class RestaurantSettings(AppSettings):
    """``FORESIGHT_RESTAURANT_*``. The first ``*_schedule`` is the first model's."""

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_RESTAURANT_", extra="ignore")

    demand_schedule: str = Field("daily 03:00", description="Retrain demand (seed: daily).")
    customer_schedule: str = Field("weekly sun 04:00", description="Seed: weekly.")
    customer_holdout_days: int = Field(90, ge=7, description="Held out to judge the model.")
    customer_ttl: float = Field(86400.0, ge=0, description="Seed: customer predictions, 24 h.")
    kitchen_schedule: str = Field("daily 03:30", description="Kitchen and delivery (seed: daily).")
    inventory_schedule: str = Field("weekly sun 04:30", description="Seed: weekly.")
    full_retrain_schedule: str = Field(
        "monthly 1 02:00", description="Full re-sync and retrain of every model (seed: monthly)."
    )
    sync_schedule: str = Field("every 5m", description="Read new RMS rows into the mirror.")
    kitchen_ttl: float = Field(1800.0, ge=0, description="Seed: kitchen predictions, 30 min.")
    inventory_ttl: float = Field(3600.0, ge=0, description="Inventory advice (as demand).")
    rms_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the RMS database (PostgreSQL or SQLite), opened "
        "read-only. Unset: the demo's own RMS under the data directory.",
    )
    rms_mapping: Path | None = Field(
        None, description="TOML or JSON file mapping the RMS's tables and columns."
    )
    rms_mapping_json: str | None = Field(None, description="The mapping as JSON text.")
    rms_statement_timeout_ms: int = Field(5000, ge=100)
    rms_require_readonly_role: bool = Field(
        False, description="Refuse an RMS login role that could write to a mapped table."
    )
    restaurant_id: str = Field("main", min_length=1, max_length=100)
    timezone: str = Field("UTC", description="The restaurant's clock (IANA name).")
    opening_hours: str = Field("mon-sun 11:00-23:00")
    closed_dates: list[date] = Field(default_factory=list)
    country: str | None = Field("US", description="Holiday calendar (ISO code); empty for none.")
    hourly_horizon_days: int = Field(7, ge=1, le=31)
    daily_horizon_days: int = Field(28, ge=1, le=92)
    hourly_history_weeks: int = Field(16, ge=3)
    holdout_days: int = Field(14, ge=2)
    sync_lookback_hours: float = Field(48.0, ge=0)
    sync_batch_rows: int = Field(10000, ge=100)
    demand_ttl: float = Field(3600.0, ge=0, description="Seed: demand predictions, 1 h.")
    features_ttl: float = Field(
        21600.0, ge=1, description="Seed: features, 6 h (also rebuilt on new RMS rows)."
    )
    cache_enabled: bool = Field(True, description="Benchmarks measure uncached with false.")
    demo_weeks: int | None = Field(
        None, ge=5, description="Demo: keep only the last N weeks of the pizza year (tests)."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"FORESIGHT_RESTAURANT_TIMEZONE: unknown time zone {value!r} "
                "(an IANA name such as Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _hours(self) -> RestaurantSettings:
        try:
            OpeningHours.parse(self.opening_hours, closed_dates=self.closed_dates)
        except InvalidInput as exc:
            raise ValueError(f"FORESIGHT_RESTAURANT_OPENING_HOURS: {exc.message}") from None
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours(self) -> OpeningHours:
        """The opening hours on the restaurant's clock (its spring DST hour is closed)."""
        return OpeningHours.parse(self.opening_hours, closed_dates=self.closed_dates, tz=self.zone)


# ---- demand --------------------------------------------------------------------------------
class DemandPoint(BaseModel):
    at: str = Field(description="Slot start, local time of the restaurant (ISO).")
    open: bool
    value: float
    lower: float
    upper: float


class DemandTotal(BaseModel):
    value: float
    lower: float
    upper: float


class DemandResponse(BaseModel):
    restaurant_id: str
    series: str
    granularity: Literal["hour", "day"]
    measure: Literal["orders", "items"]
    level: float
    timezone: str
    data_until: str | None = Field(description="Last order in the data (local time).")
    start: str
    end: str
    points: list[DemandPoint]
    total: DemandTotal
    method: str = Field(description="ensemble | top_down | seasonal_naive | default")
    model_version: str | None
    fallback: str | None
    cached: bool
    generated_at: str


# ---- menu and sync ---------------------------------------------------------------------------
class MenuItem(BaseModel):
    item_id: str
    name: str
    category: str
    sizes: list[str]
    prices: dict[str, float | None]


class MenuResponse(BaseModel):
    restaurant_id: str
    timezone: str
    opening_hours: str
    closed_dates: list[str]
    data_from: str | None
    data_until: str | None
    hourly_horizon_days: int
    daily_horizon_days: int
    forecast_from: str | None = Field(description="First slot a forecast can answer (local).")
    categories: list[str]
    items: list[MenuItem]


class SyncResponse(BaseModel):
    full: bool
    rows: dict[str, int]
    removed: int
    watermark: str | None
    sync_id: int
    seconds: float


class RmsCheckResponse(BaseModel):
    url: str
    guarantees: dict[str, Any]
    problems: list[str]
    notes: list[str]
    counts: dict[str, int]
    first_order: str | None
    last_order: str | None


# ---- customers ------------------------------------------------------------------------------
class Rfm(BaseModel):
    recency_days: float
    frequency: int = Field(description="Visit days so far.")
    monetary: float = Field(description="Mean spend per visit day.")
    r_score: int
    f_score: int
    m_score: int
    segment: str


class CustomerResponse(BaseModel):
    customer_id: str
    as_of: str = Field(description="The last day of data the answer is computed at.")
    rfm: Rfm
    clv_12m: float | None = Field(description="Expected spend over 12 months, discounted.")
    expected_visits_30d: float | None
    p_alive: float | None
    churn_risk: float | None = Field(description="1 − P(alive).")
    churn_tier: Literal["high", "medium", "low"] | None
    next_visit_expected: str | None = Field(description="Null when P(alive) < 0.5.")
    method: str = Field(description="bg_nbd | rfm_rule | default")
    model_version: str | None
    fallback: str | None
    cached: bool


class CustomerScore(BaseModel):
    customer_id: str
    segment: str
    recency_days: float
    frequency: float
    monetary: float
    clv_12m: float | None
    p_alive: float | None
    expected_visits_30d: float | None


class CustomerPage(BaseModel):
    customers: list[CustomerScore]
    total: int
    scored_at: str | None
    model_version: str | None
