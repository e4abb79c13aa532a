"""Delivery prediction routes under ``/api/v1/delivery/predict`` (docs/delivery-plan.md §6).
No business logic here."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from foresight.api.bodies import parse_body
from foresight.api.deps import PlatformDep, Predictor, Reader, service_from
from foresight.api.responses import json_response
from foresight.api.routes.jobs import JobStatus, read_job
from foresight.api.uploads import receive_upload, upload_body
from foresight.apps.delivery import batch
from foresight.apps.delivery.schemas_predict import (
    AvailabilityRequest,
    AvailabilityResponse,
    BatchRequest,
    HeatmapResponse,
    OptimalTimeRequest,
    OptimalTimeResponse,
)
from foresight.apps.delivery.service import DeliveryService
from foresight.platform.errors import NotFound
from foresight.platform.schemas import JobAccepted, job_accepted

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # a CSV of pairs: about 2 million of them

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
    ctx = service.predictions.cached(body.customer_id)
    if ctx is not None and len(body.days()) == 1 and body.window_minutes >= 30:
        # One day of a cached customer is under a millisecond of pure CPU: a hop to a
        # worker thread would add to that and contend with the loop for the GIL. (The
        # first answer after a promotion also loads the model here, once per process.)
        answer = service.optimal_time(body, principal.name, ctx)
    else:  # reads the database, or scores up to 14 days of windows: off the loop
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


@router.post(
    "/predict/batch",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=upload_body(BatchRequest.model_json_schema()),
    responses={413: {"description": "More pairs than FORESIGHT_DELIVERY_BATCH_MAX_PAIRS."}},
)
async def submit_batch(request: Request, principal: Predictor) -> JobAccepted:
    """Score many customer-window pairs in the background: a JSON ``{"pairs": [...]}`` or
    a CSV upload with columns customer_id, window_start, window_end. Follow the job's
    URLs; a bad pair is a row error in the job, not a refused batch."""
    service = service_from(request, DeliveryService)
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        body = await request.body()
        job = await run_in_threadpool(
            lambda: batch.submit(
                service, [p.model_dump() for p in parse_body(BatchRequest, body).pairs]
            )
        )
    else:
        with await receive_upload(request, max_bytes=MAX_UPLOAD_BYTES) as upload:
            job = await run_in_threadpool(batch.submit_file, service, upload.path)
            upload.hand_over()  # the job reads the file now, and deletes it when it ends
    return job_accepted(job.id, job.status)


@router.get(
    "/predict/batch/{job_id}",
    response_model=JobStatus,
    responses={404: {"description": "No delivery batch with this id."}},
)
def read_batch(
    job_id: Annotated[str, Path(max_length=100)], principal: Predictor, platform: PlatformDep
) -> JobStatus:
    """A batch's status, progress, summary and first row errors (the same as
    ``GET /api/v1/jobs/{job_id}``; results at its ``results_url``)."""
    found = read_job(job_id, principal, platform)
    if found.app != "delivery" or found.kind != batch.KIND:
        raise NotFound(f"no delivery batch {job_id!r}")
    return found
