"""Response bodies of ``GET /api/v1/restaurant/inventory``. Quantities are in each
ingredient's own unit (``unit``: g, ml, pieces); times in days; dates local."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BatchWarning(BaseModel):
    batch_id: str
    expires_at: str = Field(description="Last local day the batch can be used.")
    quantity: float = Field(description="On hand in the batch now.")
    unusable: float = Field(description="What forecast usage will not reach before expiry.")


class ExpiringBatch(BatchWarning):
    ingredient_id: str
    unit: str


class IngredientAdvice(BaseModel):
    ingredient_id: str
    name: str
    unit: str
    on_hand: float
    usable_on_hand: float = Field(description="On hand less what will expire unused.")
    daily_usage: float = Field(description="Mean forecast usage per day over the next 7 days.")
    days_of_cover: float | None = Field(description="Null when nothing is used.")
    lead_time_days: float
    safety_stock: float
    reorder_point: float = Field(description="Usage over the lead time plus safety stock.")
    order_up_to: float = Field(description="Usage over lead time + review plus safety stock.")
    reorder_now: bool = Field(description="Usable stock is below the reorder point.")
    suggested_order_qty: float = Field(description="Whole packs, at least the minimum order.")
    expiring: list[BatchWarning]
    note: str | None = Field(description='"no uncertainty estimate" when safety stock is 0.')


class InventoryResponse(BaseModel):
    restaurant_id: str
    as_of: str = Field(description="The first day the stock on hand serves (local).")
    service_level: float
    review_days: float
    lead_time_days: float | None = Field(description="The override asked for, if any.")
    method: Literal["conformal", "normal_rule", "default"]
    items: list[IngredientAdvice] = Field(description="Order-now first, then least cover.")
    expiring: list[ExpiringBatch] = Field(description="Every warning, soonest first.")
    model_version: str
    fallback: str | None
    demand_model_version: str
    demand_method: str = Field(description="ensemble, seasonal_naive or default.")
    demand_fallback: str | None
    generated_at: str
    cached: bool
