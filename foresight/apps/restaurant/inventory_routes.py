"""Inventory routes under ``/api/v1/restaurant``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from foresight.api.deps import Predictor, service_of
from foresight.api.responses import json_response
from foresight.apps.restaurant.schemas_inventory import InventoryResponse
from foresight.apps.restaurant.service import RestaurantService

router = APIRouter(prefix="/api/v1/restaurant", tags=["restaurant"])
Service = Annotated[RestaurantService, Depends(service_of(RestaurantService))]
MAX_DAYS = 365  # a lead or review time longer than a year is a typo, and would be costly


@router.get(
    "/inventory",
    response_model=InventoryResponse,
    responses={404: {"description": "Unknown ingredient_id (named in details)."}},
)
def read_inventory(
    service: Service,
    _: Predictor,
    service_level: Annotated[
        float, Query(ge=0.5, le=0.999, description="Chance of not running out in a cycle.")
    ] = 0.95,
    ingredient_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    lead_time_days: Annotated[
        float | None,
        Query(ge=0, le=MAX_DAYS, description="Overrides every ingredient's supplier lead time."),
    ] = None,
    review_days: Annotated[
        float, Query(ge=0, le=MAX_DAYS, description="Days until the next order after this one.")
    ] = 1.0,
) -> Response:
    """Per ingredient: on hand, days of cover, reorder point, safety stock and what to order,
    plus batches that will expire unused. Cached (key ``inventory:…``, 1 h), dropped when
    new RMS rows are synced or either model (inventory, demand) changes."""
    body = service.inventory.advice(
        service_level=service_level,
        ingredient_id=ingredient_id,
        lead_time_days=lead_time_days,
        review_days=review_days,
    )
    return json_response(body)
