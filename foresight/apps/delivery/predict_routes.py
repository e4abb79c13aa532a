"""Delivery prediction routes under ``/api/v1/delivery/predict`` (docs/delivery-plan.md §6).
Batches join them later. No business logic here."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from foresight.api.bodies import parse_body
from foresight.api.deps import Predictor, Reader, service_from
from foresight.api.responses import json_response
from foresight.apps.delivery.schemas_predict import (
    AvailabilityRequest,
    AvailabilityResponse,
    HeatmapResponse,
    OptimalTimeRequest,
    OptimalTimeResponse,
)
from foresight.apps.delivery.service import DeliveryService

router = APIRouter(prefix="/api/v1/delivery", tags=["delivery"])


@router.post(
    "/predict/availability",
    response_model=AvailabilityResponse,
    responses={404: {"description": "No such customer (with a suggestion), or it was deleted."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AvailabilityRequest.model_json_schema()}},
        }
    },
)
async def predict_availability(request: Request, principal: Predictor) -> Response:
    """P(delivered) for one window, with confidence, factors and what the answer rests on."""
    # One pydantic-core pass instead of FastAPI's body machinery, and orjson out: the
    # answer is already shaped as AvailabilityResponse.
    body = parse_body(AvailabilityRequest, await request.body())
    service = service_from(request, DeliveryService)
    # A context miss reads the database and an explanation walks the trees: both block,
    # so they run in a worker thread rather than stall every other request on the loop.
    answer = await run_in_threadpool(service.availability, body, principal.name)
    return json_response(answer)


@router.post(
    "/predict/optimal-time",
    response_model=OptimalTimeResponse,
    responses={404: {"description": "No such customer (with a suggestion), or it was deleted."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OptimalTimeRequest.model_json_schema()}},
        }
    },
)
async def predict_optimal_time(request: Request, principal: Predictor) -> Response:
    """The best windows of a day (or of up to 14 days) to deliver to a customer, best
    first: blocked windows, calendar conflicts and past windows left out and counted."""
    body = parse_body(OptimalTimeRequest, await request.body())
    service = service_from(request, DeliveryService)
    if service.predictions.has_context(body.customer_id):
        # A cached customer costs well under a millisecond of pure CPU: a hop to a worker
        # thread would add to that and contend for the GIL with the loop.
        answer = service.optimal_time(body, principal.name)
    else:  # reads the database: off the loop
        answer = await run_in_threadpool(service.optimal_time, body, principal.name)
    return json_response(answer)


@router.get(
    "/customers/{customer_id}/heatmap",
    response_model=HeatmapResponse,
    responses={404: {"description": "No such customer (with a suggestion), or it was deleted."}},
)
def read_heatmap(
    customer_id: Annotated[str, Path(min_length=1, max_length=100, examples=["c-00042"])],
    request: Request,
    _: Reader,
    week_of: Annotated[
        date | None,
        Query(description="A date in the week to show (its Monday to Sunday); today if left out."),
    ] = None,
) -> dict[str, Any]:
    """The model's P(delivered) per local hour × weekday of one week, beside the observed
    share delivered and the attempts per cell: the week at a glance."""
    return service_from(request, DeliveryService).heatmap(customer_id, week_of)
