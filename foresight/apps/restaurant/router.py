"""Restaurant HTTP routes under ``/api/v1/restaurant`` (the seed's predictions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from foresight.api.deps import Admin, Predictor, Reader, service_of
from foresight.api.responses import json_response
from foresight.apps.restaurant.demand_answers import DemandQuery
from foresight.apps.restaurant.schemas import (
    CustomerPage,
    CustomerResponse,
    DemandResponse,
    MenuResponse,
    SyncResponse,
)
from foresight.apps.restaurant.service import RestaurantService

router = APIRouter(prefix="/api/v1/restaurant", tags=["restaurant"])
Service = Annotated[RestaurantService, Depends(service_of(RestaurantService))]
NOT_FOUND = {404: {"description": "Unknown item, category or restaurant_id (named in details)."}}


@router.get("/demand", response_model=DemandResponse, responses=NOT_FOUND)
def read_demand(
    service: Service,
    _: Predictor,
    start: Annotated[date | datetime, Query(description="First day or hour (local time).")],
    end: Annotated[date | datetime, Query(description="Last day or hour (local time).")],
    granularity: Literal["hour", "day"] = "day",
    measure: Literal["orders", "items"] = "items",
    item_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    level: Annotated[float, Query(gt=0, lt=100)] = 80.0,
    restaurant_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Response:
    """Orders or items per hour or day for a date range, with an interval; closed slots
    are zero and marked. Cached per the seed (key ``demand:{restaurant_id}:…``, 1 h),
    dropped when new RMS rows are synced or a model is promoted."""
    query = DemandQuery(start, end, granularity, measure, item_id, category, level)
    body = service.demand(query, restaurant_id)
    return json_response(body)


@router.get("/menu", response_model=MenuResponse)
def read_menu(service: Service, _: Predictor) -> dict[str, Any]:
    """Items, sizes, categories, opening hours and how far forecasts reach."""
    return service.menu()


@router.post("/sync", response_model=SyncResponse)
def create_sync(service: Service, _: Admin, full: bool = False) -> dict[str, Any]:
    """Read what is new in the RMS now (``full`` re-reads everything)."""
    report = service.sync_now(full=full)
    return {
        "full": report.full,
        "rows": report.rows,
        "removed": report.removed,
        "watermark": report.watermark,
        "sync_id": report.sync_id,
        "seconds": report.seconds,
    }


@router.get(
    "/customer/{customer_id}",
    response_model=CustomerResponse,
    responses={404: {"description": "No customer with that id (named in details)."}},
)
def read_customer(
    service: Service,
    _: Predictor,
    customer_id: Annotated[str, Path(min_length=1, max_length=100)],
) -> Response:
    """One customer's RFM segment, 12-month value, churn risk and next expected visit.
    Cached per the seed (key ``customer:{customer_id}``, 24 h), dropped on new data."""
    return json_response(service.customers.lookup(customer_id))


@router.get("/customers", response_model=CustomerPage)
def read_customers(
    service: Service,
    _: Reader,
    segment: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    churn_tier: Literal["high", "medium", "low"] | None = None,
    min_clv: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    order_by: Literal["clv", "p_alive"] = "clv",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Customers by value (or lowest P(alive) first), as scored at the last training."""
    return service.customers.page(
        segment=segment,
        churn_tier=churn_tier,
        min_clv=min_clv,
        order_by=order_by,
        limit=limit,
        offset=offset,
    )
