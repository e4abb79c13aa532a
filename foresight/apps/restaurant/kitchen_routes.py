"""Kitchen and delivery routes under ``/api/v1/restaurant``: ticket minutes for a basket
at the kitchen's load, one item's per-station minutes, and delivery minutes. Hot routes:
the answer is serialised once, as ``apps/sales/router.py::read_top_products`` does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from foresight.api.deps import Predictor, service_of
from foresight.api.responses import json_response
from foresight.apps.restaurant.schemas_kitchen import (
    DeliveryRequest,
    DeliveryResponse,
    KitchenItemResponse,
    KitchenRequest,
    KitchenResponse,
)
from foresight.apps.restaurant.service import RestaurantService

router = APIRouter(prefix="/api/v1/restaurant", tags=["restaurant"])
Service = Annotated[RestaurantService, Depends(service_of(RestaurantService))]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown item or station (named in details, with a suggestion)."},
    422: {"description": "A size the item lacks, a closed hour, an empty basket (named)."},
}


@router.post("/kitchen", response_model=KitchenResponse, responses=ERRORS)
def create_kitchen_estimate(service: Service, _: Predictor, body: KitchenRequest) -> Response:
    """Ticket minutes for a basket, at the kitchen's load (given, or from the mirror),
    with a 90 % interval. Cached 30 min per the seed; dropped when new rows are synced."""
    return json_response(service.kitchen.ticket(body))


@router.get("/kitchen", response_model=KitchenItemResponse, responses=ERRORS)
def read_kitchen_item(
    service: Service,
    _: Predictor,
    item_id: Annotated[str, Query(min_length=1, max_length=100)],
    size: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    station_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ordered_at: Annotated[
        datetime | None, Query(description="Local time if no zone; default now or next opening.")
    ] = None,
) -> Response:
    """One item's minutes per station over the last 28 days and the ticket of one of it
    (the seed's ``kitchen:{station_id}:{item_id}``, cached 30 min)."""
    return json_response(service.kitchen.item(item_id, size, station_id, ordered_at))


@router.post("/kitchen/delivery", response_model=DeliveryResponse, responses=ERRORS)
def create_delivery_estimate(service: Service, _: Predictor, body: DeliveryRequest) -> Response:
    """Delivery minutes for an order at an hour and weekday, a distance away, with a 90 %
    interval. Cached 30 min; dropped when new rows are synced or a model is promoted."""
    return json_response(service.kitchen.delivery(body))
