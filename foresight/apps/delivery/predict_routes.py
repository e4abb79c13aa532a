"""Delivery prediction routes under ``/api/v1/delivery/predict`` (docs/delivery-plan.md §6).
Optimal time, the heat map and batches join them later. No business logic here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from foresight.api.bodies import parse_body
from foresight.api.deps import Predictor, service_from
from foresight.api.responses import json_response
from foresight.apps.delivery.schemas_predict import AvailabilityRequest, AvailabilityResponse
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
