"""Churn HTTP routes under ``/api/v1/churn`` (no business logic: the service does it)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from foresight.api.bodies import parse_body
from foresight.api.deps import Predictor, Reader, Writer, service_from, service_of
from foresight.api.uploads import receive_upload, upload_body
from foresight.apps.churn import batch
from foresight.apps.churn.schemas import (
    AtRiskCustomer,
    BatchRequest,
    ModelSchema,
    PredictionRecord,
    PredictRequest,
    PredictResponse,
    RiskSummary,
)
from foresight.apps.churn.service import ChurnService
from foresight.platform.schemas import ImportResponse, JobAccepted, job_accepted

MAX_UPLOAD_BYTES = 200 * 1024 * 1024

router = APIRouter(prefix="/api/v1/churn", tags=["churn"])
Service = Annotated[ChurnService, Depends(service_of(ChurnService))]


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={404: {"description": "No stored customer with that customer_id."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
        }
    },
)
async def predict_churn(request: Request, _: Predictor) -> Response:
    """Churn probability, tier, top factors (exact TreeSHAP) and input warnings for one customer."""
    # Parsed and validated in one pydantic-core pass instead of FastAPI's body
    # machinery, and answered as JSON directly: this is the hottest route.
    body = parse_body(PredictRequest, await request.body())
    answer = service_from(request, ChurnService).predict(body)
    return Response(json.dumps(answer), media_type="application/json")


@router.post(
    "/predict/batch",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=upload_body(BatchRequest.model_json_schema()),
)
async def submit_batch(request: Request, service: Service, _: Predictor) -> JobAccepted:
    """Score a CSV upload or a JSON list in the background; follow the job's URLs."""
    # Only streaming happens on the event loop: parsing, checking and storing run in a
    # thread, and the job reads the file chunk by chunk in its own worker.
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        job = await run_in_threadpool(
            lambda: batch.submit(service, parse_body(BatchRequest, body).customers)
        )
    else:
        with await receive_upload(request, max_bytes=MAX_UPLOAD_BYTES) as upload:
            job = await run_in_threadpool(batch.submit_file, service, upload.path)
            upload.hand_over()  # the job reads the file now, and deletes it when it ends
    return job_accepted(job.id, job.status)


@router.get("/customers/{customer_id}", response_model=dict[str, Any])
def read_customer(customer_id: str, service: Service, _: Reader) -> dict[str, Any]:
    """A stored customer's attributes (as imported)."""
    return {"customer_id": customer_id, "attributes": service.customer(customer_id)}


@router.get("/customers/{customer_id}/predictions", response_model=list[PredictionRecord])
def read_history(
    customer_id: str,
    service: Service,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Any]:
    """A customer's past predictions, newest first."""
    return service.history(customer_id, limit)


@router.get("/predictions", response_model=list[PredictionRecord])
def read_recent_predictions(
    service: Service, _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[Any]:
    """The most recent predictions, newest first."""
    return service.recent(limit)


@router.get("/at-risk", response_model=list[AtRiskCustomer])
def read_at_risk(
    service: Service,
    _: Reader,
    tier: Literal["low", "medium", "high"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[Any]:
    """Customers by latest churn probability, highest first; filter by tier."""
    return service.at_risk(tier=tier, limit=limit, offset=offset)


@router.get("/risk-summary", response_model=RiskSummary)
def read_risk_summary(service: Service, _: Reader) -> dict[str, Any]:
    """How many customers are in each tier, and a probability histogram."""
    return service.risk_summary()


@router.get("/schema", response_model=ModelSchema)
def read_schema(service: Service, _: Reader) -> dict[str, Any]:
    """The fields the serving model expects (names, kinds, categories, ranges)."""
    return service.model_schema()


@router.post(
    "/import",
    response_model=ImportResponse,
    openapi_extra=upload_body(),
)
async def import_customers(
    request: Request,
    service: Service,
    principal: Writer,
    id_column: Annotated[str, Query(max_length=100)],
    target_column: Annotated[str | None, Query(max_length=100)] = None,
    positive_label: Annotated[str | None, Query(max_length=100)] = None,
) -> ImportResponse:
    """Replace the customer table with an uploaded CSV (all rows or none)."""
    with await receive_upload(request, max_bytes=MAX_UPLOAD_BYTES) as upload:
        # Parsing and the replace-all transaction take seconds on a big table: off the
        # event loop, so the rest of the API goes on answering meanwhile.
        result = await run_in_threadpool(
            lambda: service.import_frame(
                upload.read_frame(),
                source="upload",
                id_column=id_column,
                target_column=target_column,
                positive_label=positive_label,
                actor=principal.name,
            )
        )
    return ImportResponse(rows=result.rows, message=result.message)
