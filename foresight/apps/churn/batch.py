"""Churn on many rows: batch jobs and CSV files, scored in chunks with bounded memory.

A CSV upload is checked when it is submitted (encoding, header, at least one row: a
422 before any job exists), then the job reads the uploaded file itself, one chunk of
:data:`CHUNK_ROWS` rows at a time, in a worker thread: memory follows the chunk, not
the file. A JSON batch is stored as the job's input chunks and read back one at a time.
Every submit function does blocking work (parsing, a database write): the router calls
them off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from foresight.apps.churn.features import json_records
from foresight.apps.churn.model import MODEL_NAME, Scored
from foresight.platform.csvfile import (
    count_lines,
    detect_encoding,
    read_csv_chunks,
    read_csv_header,
)
from foresight.platform.errors import InvalidInput
from foresight.platform.jobs import MAX_ERRORS, Job, JobContext, JobLost

if TYPE_CHECKING:  # the service scores its own table with score_chunks
    from foresight.apps.churn.service import ChurnService

CHUNK_ROWS = 20_000  # rows scored at a time: memory and GC pauses follow it
MONITOR_SAMPLE = 200  # rows per chunk kept for the drift check
UPLOAD = "the uploaded CSV file"


def score_chunks(
    service: ChurnService,
    chunks: Iterable[pd.DataFrame],
    *,
    source: str,
    job_id: str | None = None,
    monitor: bool = True,
) -> Iterator[tuple[int, Scored]]:
    """Score and store chunk after chunk; yields (first row number, scored chunk).
    A sample of each chunk's inputs goes to the drift monitor (unless ``monitor`` is
    False: re-scoring the stored customers is not new traffic)."""
    first = 1
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)
        scored = service.score_frame(chunk)
        service.store_scores(scored, source=source, job_id=job_id)
        if monitor:
            good = chunk[scored.ok]
            sample = good.sample(min(len(good), MONITOR_SAMPLE), random_state=first)
            names = [c for c in service.served().model.signature.names if c in sample.columns]
            service.p.monitor.record_inputs(
                MODEL_NAME, scored.model_version, json_records(sample[names])
            )
        yield first, scored
        first += len(chunk)


def run_batch(service: ChurnService, ctx: JobContext) -> dict[str, Any]:
    """Job body: score the uploaded file (``ctx.input_file``) or the stored JSON records
    chunk by chunk, emitting results and progress. If another replica failed the job
    meanwhile (:class:`JobLost`), the predictions it stored are deleted here too."""
    chunks: Iterable[pd.DataFrame]
    if ctx.input_file is not None:
        ctx.progress(done=0, total=max(count_lines(ctx.input_file) - 1, 0))  # approximate
        chunks = read_csv_chunks(ctx.input_file, CHUNK_ROWS, ctx.params.get("encoding"), UPLOAD)
    else:
        chunks = map(pd.DataFrame.from_records, ctx.input_chunks())
    try:
        return _score_job(service, ctx, chunks)
    except JobLost:
        # Predictions go in before each heartbeat write that can notice the loss, so
        # this runs after this worker's last write, wherever the recovery happened.
        service.discard_job(ctx.job_id)
        raise


def _score_job(
    service: ChurnService, ctx: JobContext, chunks: Iterable[pd.DataFrame]
) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    error_count = scored_rows = rejected = 0
    version = None
    for first, scored in score_chunks(service, chunks, source="batch", job_id=ctx.job_id):
        version = scored.model_version
        results = scored.results(first)
        ctx.emit(results)
        scored_rows += len(results)
        rejected += int((~scored.ok).sum())
        row_errors = scored.row_errors(first)
        error_count += len(row_errors)
        errors.extend(row_errors[: max(0, MAX_ERRORS - len(errors))])  # bounded memory
        ctx.progress(done=scored_rows, failed=rejected)
    ctx.progress(done=scored_rows, failed=rejected, total=scored_rows + rejected)
    return {
        "errors": errors,
        "error_count": error_count,
        "scored": scored_rows,
        "rejected": rejected,
        "model_version": version,
    }


def score_file(
    service: ChurnService, path: Path, out: Path, progress: Callable[[float], None]
) -> dict[str, Any]:
    """Score a CSV in chunks into ``out`` (id, probability, prediction, tier); rejected
    rows go to ``<out>.errors.csv`` with their file line numbers."""
    encoding = detect_encoding(path, str(path))
    service.check_columns(read_csv_header(path, encoding, str(path)))
    total = max(1, count_lines(path) - 1)
    errors_path = out.with_name(out.stem + ".errors.csv")
    written, rejected, errors = 0, 0, []
    id_name = service.id_column()
    chunks = read_csv_chunks(path, CHUNK_ROWS, encoding, str(path))
    for first, scored in score_chunks(service, chunks, source="file"):
        frame = pd.DataFrame(scored.results(first + 1)).drop(columns=["row"], errors="ignore")
        frame = frame.rename(columns={"customer_id": id_name})
        frame.to_csv(out, mode="w" if first == 1 else "a", header=first == 1, index=False)
        written += int(scored.ok.sum())
        rejected += int((~scored.ok).sum())
        errors.extend(scored.row_errors(first + 1))  # +1: the header is line 1
        progress(min(1.0, (first - 1 + len(scored.ok)) / total))
    if errors:
        pd.DataFrame(errors).to_csv(errors_path, index=False)
    return {
        "scored": written,
        "rejected": rejected,
        "out": str(out),
        "errors_file": str(errors_path) if errors else None,
        "model_version": service.served().label,
    }


def submit(service: ChurnService, records: list[dict[str, Any]]) -> Job:
    """Queue a batch of customers for scoring; fails now (503) if no model can answer."""
    service.served()
    job, _future = service.p.jobs.submit(
        app="churn", kind="predict_batch", fn=partial(run_batch, service), records=records
    )
    return job


def submit_file(service: ChurnService, path: Path) -> Job:
    """Queue an uploaded CSV: checked now (encoding, the model's columns, at least one
    row), read by the job chunk by chunk. On success the job owns ``path`` (it deletes
    the file when it ends); on an error the caller still does."""
    service.served()
    encoding = detect_encoding(path, UPLOAD)
    header = read_csv_header(path, encoding, UPLOAD)
    rows = read_csv_chunks(path, 1, encoding, UPLOAD)
    try:
        first = next(rows, None)
        if first is None or first.empty:
            raise InvalidInput(f"{UPLOAD} has a header but no rows")
    finally:
        rows.close()
    service.check_columns(header)
    job, _future = service.p.jobs.submit(
        app="churn",
        kind="predict_batch",
        fn=partial(run_batch, service),
        params={"encoding": encoding},
        input_file=path,
    )
    return job
