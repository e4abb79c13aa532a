"""Request and response bodies of the sales API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from foresight.platform.apps import AppSettings
from foresight.platform.schemas import IsoDateTime


class SalesSettings(AppSettings):
    """``FORESIGHT_SALES_*``."""

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_SALES_", extra="ignore")

    country: str | None = Field("US", description="Holiday calendar (ISO code); empty for none.")
    retrain_schedule: str = Field(
        "weekly", description='When to retrain (the seed: weekly); "off" to never.'
    )


class Transaction(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        # The document says what the service checks: revenue, unit_price or both.
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "number"}}}
                for name in ("revenue", "unit_price")
            ]
        },
    )

    product_id: str = Field(min_length=1, max_length=100)
    sold_at: IsoDateTime
    quantity: float = Field(ge=0)
    revenue: float | None = Field(default=None, description="Defaults to quantity × unit_price.")
    unit_price: float | None = Field(default=None, ge=0)
    # Lengths as the tables hold them (store.py): a longer value is a 422, not a 500.
    category: str | None = Field(
        default=None, max_length=100, description="Required for a new product."
    )
    product_name: str | None = Field(default=None, max_length=200)
    order_id: str | None = Field(default=None, max_length=100)


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[Transaction] = Field(
        min_length=1,
        max_length=100_000,
        description="The body is also capped (FORESIGHT_MAX_BODY_BYTES, 10 MiB by default: "
        "about 60,000 transactions); import larger files with `foresight import sales`.",
    )


class TopProduct(BaseModel):
    rank: int
    product_id: str
    name: str
    category: str
    forecast_units: float
    forecast_revenue: float
    interval_80: list[float] | None = Field(description="80 % interval of the units total.")
    previous_units: float = Field(description="Units sold in the same length of time before.")
    trend_pct: float | None
    trend: str = Field(description="up, down, flat (±5 %) or new")
    method: str = Field(
        description="ensemble, or seasonal_naive for a product newer than the model"
    )


class TopProductsResponse(BaseModel):
    time_period: str
    category: str | None
    period_start: str | None
    period_end: str | None
    products: list[TopProduct]
    total: int = Field(description="Products in this answer (at most `limit`).")
    ranked: int = Field(description="Products ranked before `limit` was applied.")
    generated_at: str
    model_version: str
    fallback: str | None
    cached: bool


class ForecastPoint(BaseModel):
    date: str
    units: float
    lower: float
    upper: float


class HistoryPoint(BaseModel):
    date: str
    units: float


class ForecastResponse(BaseModel):
    series: str
    horizon: int
    level: float
    model_version: str
    fallback: str | None
    weights: dict[str, float]
    history: list[HistoryPoint]
    forecast: list[ForecastPoint]


class BacktestMetric(BaseModel):
    group: str
    model: str
    smape: float
    mase: float
    mae: float
    rmse: float
    forecasts: int


class BacktestResponse(BaseModel):
    model_version: str
    trained_until: str
    horizon_days: int
    windows: int
    weights: dict[str, dict[str, float]]
    metrics: list[BacktestMetric]
    candidates: dict[str, list[dict[str, object]]]


class Product(BaseModel):
    product_id: str
    name: str
    category: str
