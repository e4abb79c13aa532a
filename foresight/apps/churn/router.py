"""Churn HTTP routes under ``/api/v1/churn``."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from foresight.api.deps import Predictor, Reader, Writer
from foresight.apps.churn.features import read_csv
from foresight.apps.churn.schemas import (
    AtRiskCustomer,
    BatchRequest,
    BatchStatus,
    ImportResponse,
    JobAccepted,
    ModelSchema,
    PredictionRecord,
    PredictRequest,
    PredictResponse,
    RiskSummary,
)
from foresight.apps.churn.service import ChurnService, json_records
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.runtime import Platform

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


async def _read_upload(request: Request) -> bytes:
    """The CSV bytes of a multipart upload (field ``file``) or a raw ``text/csv`` body."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a file field named 'file'")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"file too large; the limit is {MAX_UPLOAD_BYTES // 2**20} MiB")
    if not data.strip():
        raise InvalidInput("the CSV file is empty")
    return data


def build_router(platform: Platform, service: ChurnService, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["churn"])

    @router.post(
        "/predict",
        response_model=PredictResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
            }
        },
    )
    async def predict_churn(request: Request, _: Predictor) -> Response:
        """Churn probability, tier and top factors (exact TreeSHAP) for one customer."""
        # Parsed and validated in one pydantic-core pass instead of FastAPI's body
        # machinery, and answered as JSON directly: this is the hottest route.
        body = PredictRequest.model_validate_json(await request.body())
        return Response(json.dumps(service.predict(body)), media_type="application/json")

    @router.post(
        "/predict/batch",
        response_model=JobAccepted,
        status_code=status.HTTP_202_ACCEPTED,
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": BatchRequest.model_json_schema()},
                    "text/csv": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                }
            }
        },
    )
    async def submit_batch(request: Request, _: Predictor) -> JobAccepted:
        """Score a CSV upload or a JSON list in the background; returns a job id."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            try:
                body = BatchRequest.model_validate_json(await request.body())
            except ValueError as exc:
                raise InvalidInput(f"invalid JSON batch: {exc}") from None
            records = body.customers
        else:
            frame = read_csv(io.BytesIO(await _read_upload(request)))
            service.check_columns([str(c) for c in frame.columns])
            records = json_records(frame)
        service.served()  # fail now (503) rather than inside the job if no model exists
        job, _future = platform.jobs.submit(
            app="churn", kind="predict_batch", fn=service.run_batch, records=records
        )
        return JobAccepted(
            job_id=job.id, status=job.status, status_url=f"/api/v1/churn/predict/batch/{job.id}"
        )

    @router.get(
        "/predict/batch/{job_id}",
        response_model=BatchStatus,
        responses={200: {"content": {"text/csv": {}}}},
    )
    def read_batch(job_id: str, _: Predictor, format: Literal["json", "csv"] = "json") -> Any:
        """A batch job's status, progress, per-row errors and (when done) its results."""
        job = platform.jobs.get(job_id)
        if job.app != "churn":
            raise NotFound(f"no churn job with id {job_id}")
        results = platform.jobs.read_blob(job_id, "output") if job.status == "done" else None
        if format == "csv":
            if results is None:
                raise InvalidInput(f"job is {job.status}; CSV results exist once it is done")
            csv = pd.DataFrame(
                results,
                columns=["row", "customer_id", "churn_probability", "prediction", "risk_tier"],
            ).to_csv(index=False)
            return Response(
                csv,
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="churn-{job_id}.csv"'},
            )
        return BatchStatus(
            job_id=job.id,
            status=job.status,
            progress=round(job.progress, 4),  # type: ignore[arg-type]
            total=job.total,
            scored=job.summary.get("scored", job.done),
            rejected=job.summary.get("rejected", job.failed),
            error=job.error,
            created_at=job.created_at,
            finished_at=job.finished_at,
            model_version=job.summary.get("model_version"),
            errors=job.summary.get("errors", []),
            results=results,
        )

    @router.get("/customers/{customer_id}", response_model=dict[str, Any])
    def read_customer(customer_id: str, _: Reader) -> dict[str, Any]:
        """A stored customer's attributes (as imported)."""
        return {"customer_id": customer_id, "attributes": service.customer(customer_id)}

    @router.get("/customers/{customer_id}/predictions", response_model=list[PredictionRecord])
    def read_history(
        customer_id: str, _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[Any]:
        """A customer's past predictions, newest first."""
        return service.history(customer_id, limit)

    @router.get("/predictions", response_model=list[PredictionRecord])
    def read_recent_predictions(
        _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[Any]:
        """The most recent predictions, newest first."""
        return service.recent(limit)

    @router.get("/at-risk", response_model=list[AtRiskCustomer])
    def read_at_risk(
        _: Reader,
        tier: Literal["low", "medium", "high"] | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Any]:
        """Customers by latest churn probability, highest first; filter by tier."""
        return service.at_risk(tier=tier, limit=limit, offset=offset)

    @router.get("/risk-summary", response_model=RiskSummary)
    def read_risk_summary(_: Reader) -> dict[str, Any]:
        """How many customers are in each tier, and a probability histogram."""
        return service.risk_summary()

    @router.get("/schema", response_model=ModelSchema)
    def read_schema(_: Reader) -> dict[str, Any]:
        """The fields the serving model expects (names, kinds, categories, ranges)."""
        served = service.served()
        ds = service.dataset()
        return {
            "model_version": served.label,
            "fields": [vars(c) for c in served.model.signature.columns],
            "id_column": ds.id_column if ds else None,
            "target_column": ds.target_column if ds else None,
        }

    @router.post("/import", response_model=ImportResponse)
    async def import_customers(
        request: Request,
        principal: Writer,
        id_column: str,
        target_column: str | None = None,
        positive_label: str | None = None,
    ) -> ImportResponse:
        """Replace the customer table with an uploaded CSV (all rows or none)."""
        frame = read_csv(io.BytesIO(await _read_upload(request)))
        result = service.import_frame(
            frame,
            source="upload",
            id_column=id_column,
            target_column=target_column,
            positive_label=positive_label,
            actor=principal.name,
        )
        return ImportResponse(rows=result.rows, message=result.message)

    return router
