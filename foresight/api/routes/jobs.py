"""Any app's background job over HTTP: its status, its results a page at a time, or as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from foresight.api.deps import PlatformDep, Predictor

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

SHOWN_ERRORS = 100
MAX_PAGE = 10_000
_CSV_BATCH = 1000  # rows per streamed piece: one thread hop per piece, not per row


class JobStatus(BaseModel):
    id: str
    app: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(description="0–1; 1 once done")
    total: int
    done: int
    failed: int
    error: str | None = Field(description="why the whole job failed, if it did")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = Field(description="last sign of life of its worker")
    summary: dict[str, Any] = Field(description="what the job reported, without its errors")
    errors: list[dict[str, Any]] = Field(description=f"the first {SHOWN_ERRORS} per-row errors")
    error_count: int = Field(description="how many per-row errors there were in all")
    results_url: str


class JobResultsPage(BaseModel):
    job_id: str
    offset: int
    limit: int
    total: int = Field(description="output rows of the whole job")
    items: list[dict[str, Any]]


def _csv_pieces(columns: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text (header first) in pieces of ``_CSV_BATCH`` rows; a missing key is empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % _CSV_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


JobId = Annotated[str, Path(max_length=100)]


@router.get("/{job_id}", response_model=JobStatus)
def read_job(job_id: JobId, _: Predictor, platform: PlatformDep) -> JobStatus:
    """A job's status, progress, summary and first per-row errors (never its results)."""
    job = platform.jobs.get(job_id)
    summary = {k: v for k, v in job.summary.items() if k not in ("errors", "error_count")}
    return JobStatus(
        id=job.id,
        app=job.app,
        kind=job.kind,
        status=job.status,  # type: ignore[arg-type]
        progress=round(job.progress, 4),
        total=job.total,
        done=job.done,
        failed=job.failed,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at,
        summary=summary,
        errors=job.row_errors[:SHOWN_ERRORS],
        error_count=job.error_count,
        results_url=f"{router.prefix}/{job.id}/results",
    )


@router.get(
    "/{job_id}/results",
    response_model=JobResultsPage,
    responses={
        200: {"content": {"text/csv": {}}},
        409: {"description": "the job is not done (yet, or it failed)"},
    },
)
def read_job_results(
    job_id: JobId,
    _: Predictor,
    platform: PlatformDep,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """A done job's output rows, a page at a time, or all of them as CSV (`format=csv`)."""
    jobs = platform.jobs
    if format == "csv":
        rows = jobs.iter_results(job_id)  # 404 or 409 now, before the response starts
        job = jobs.get(job_id)
        return StreamingResponse(
            _csv_pieces(jobs.result_columns(job_id), rows),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{job.app}-{job.kind}-{job.id}.csv"'
            },
        )
    items = jobs.results(job_id, offset=offset, limit=limit)
    return JobResultsPage(
        job_id=job_id, offset=offset, limit=limit, total=jobs.result_count(job_id), items=items
    )
