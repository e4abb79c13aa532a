"""Churn on many rows: batch jobs and CSV files, scored in chunks with bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from foresight.apps.churn.features import json_records
from foresight.apps.churn.model import MODEL_NAME, Scored
from foresight.apps.churn.service import ChurnService
from foresight.platform.csvfile import read_csv_chunks, read_csv_header
from foresight.platform.jobs import Job, JobContext

CHUNK_ROWS = 50_000
MONITOR_SAMPLE = 200  # rows per chunk kept for the drift check


def score_chunks(
    service: ChurnService, chunks: Iterator[pd.DataFrame], *, source: str
) -> Iterator[tuple[int, Scored]]:
    """Score and store chunk after chunk; yields (first row number, scored chunk).
    A sample of each chunk's inputs goes to the drift monitor."""
    first = 1
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)
        scored = service.score_frame(chunk)
        service.store_scores(scored, source=source)
        good = chunk[scored.ok]
        sample = good.sample(min(len(good), MONITOR_SAMPLE), random_state=first)
        names = [c for c in service.served().model.signature.names if c in sample.columns]
        service.p.monitor.record_inputs(
            MODEL_NAME, scored.model_version, json_records(sample[names])
        )
        yield first, scored
        first += len(chunk)


def run_batch(service: ChurnService, ctx: JobContext) -> dict[str, Any]:
    """Job body: score the job's input in chunks, emitting results and progress."""
    records = ctx.input()
    chunks = (
        pd.DataFrame.from_records(records[i : i + CHUNK_ROWS])
        for i in range(0, len(records), CHUNK_ROWS)
    )
    errors: list[dict[str, Any]] = []
    scored_rows, version = 0, None
    for first, scored in score_chunks(service, chunks, source="batch"):
        version = scored.model_version
        results = scored.results(first)
        ctx.emit(results)
        scored_rows += len(results)
        errors.extend(scored.row_errors(first))
        bad = len({e["row"] for e in errors})
        ctx.progress(done=scored_rows, failed=bad)
    return {
        "errors": errors[:10_000],
        "scored": scored_rows,
        "rejected": len({e["row"] for e in errors}),
        "model_version": version,
    }


def score_file(
    service: ChurnService, path: Path, out: Path, progress: Callable[[float], None]
) -> dict[str, Any]:
    """Score a CSV in chunks into ``out`` (id, probability, prediction, tier); rejected
    rows go to ``<out>.errors.csv`` with their file line numbers."""
    service.check_columns(read_csv_header(path))
    total = max(1, sum(1 for _ in path.open("rb")) - 1)
    errors_path = out.with_name(out.stem + ".errors.csv")
    written, rejected, errors = 0, 0, []
    id_name = service.id_column()
    for first, scored in score_chunks(service, read_csv_chunks(path, CHUNK_ROWS), source="file"):
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


def submit_frame(service: ChurnService, frame: pd.DataFrame) -> Job:
    """Queue an uploaded file: its header must hold the model's fields."""
    service.check_columns([str(c) for c in frame.columns])
    return submit(service, json_records(frame))
