"""``POST predict/batch``: many customer-window pairs scored as a platform job.

A JSON list of pairs is stored as the job's input; a CSV upload is checked when it is
submitted (encoding, the three columns, at least one row: a 422 before any job exists)
and read by the job :data:`CHUNK_PAIRS` rows at a time. Each chunk is scored by
``batch_scoring.score_pairs``; its results and row errors are emitted, and one
``PredictionRequested`` per customer and chunk goes to the event buffer. Every submit
function blocks (parsing, a database write): the router calls them off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from foresight.apps.delivery.batch_scoring import PAIR_COLUMNS, score_pairs
from foresight.platform.csvfile import detect_encoding, read_csv_header
from foresight.platform.errors import InvalidInput, PayloadTooLarge
from foresight.platform.jobs import MAX_ERRORS, Job, JobContext

if TYPE_CHECKING:
    from foresight.apps.delivery.service import DeliveryService

CHUNK_PAIRS = 50_000  # pairs scored at a time: memory follows the chunk, not the file
UPLOAD = "the uploaded CSV file"
KIND = "predict_batch"


def csv_chunks(path: Path, encoding: str, rows: int = CHUNK_PAIRS) -> Iterator[pd.DataFrame]:
    """The pairs of a CSV file, ``rows`` at a time, every cell as text (an id such as
    ``007`` stays ``007``)."""
    with pd.read_csv(
        path,
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        usecols=lambda c: c in PAIR_COLUMNS,
        chunksize=rows,
    ) as reader:
        yield from reader


def run_batch(service: DeliveryService, ctx: JobContext) -> dict[str, Any]:
    """Job body: score the uploaded file or the stored pairs chunk by chunk."""
    chunks: Iterator[pd.DataFrame]
    if ctx.input_file is not None:
        chunks = csv_chunks(ctx.input_file, ctx.params.get("encoding") or "utf-8")
    else:
        chunks = (pd.DataFrame.from_records(c) for c in ctx.input_chunks())
    errors: list[dict[str, Any]] = []
    scored = rejected = error_count = 0
    first, version = 1, None
    # The results are the job's own output rows: a job lost to a recovery (JobLost from
    # progress) leaves nothing of its own to discard.
    for chunk in chunks:
        out = score_pairs(service, chunk, first)
        first += len(chunk)
        version = out.model_version or version
        ctx.emit(out.results)
        for customer_id, windows, basis in out.per_customer:
            assert out.served is not None  # it scored: the model that did names the events
            service.predictions.requested(
                customer_id, "batch", windows, out.served, basis, job_id=ctx.job_id
            )
        scored += len(out.results)
        rejected += len(out.errors)
        error_count += len(out.errors)
        errors.extend(out.errors[: max(0, MAX_ERRORS - len(errors))])  # bounded memory
        ctx.progress(done=scored, failed=rejected)
    ctx.progress(done=scored, failed=rejected, total=scored + rejected)
    errors.sort(key=lambda e: e["row"])
    return {
        "errors": errors,
        "error_count": error_count,
        "scored": scored,
        "rejected": rejected,
        "model_version": version,
    }


def _limit(service: DeliveryService, count: int) -> None:
    most = service.settings.batch_max_pairs
    if count > most:
        raise PayloadTooLarge(
            f"{count:,} pairs is more than {most:,} (FORESIGHT_DELIVERY_BATCH_MAX_PAIRS); "
            "split the batch"
        )


def submit(service: DeliveryService, pairs: list[dict[str, Any]]) -> Job:
    """Queue a JSON batch of pairs; fails now (503) if no model can answer."""
    _limit(service, len(pairs))
    service.predictions.serve()
    job, _future = service.p.jobs.submit(
        app="delivery", kind=KIND, fn=partial(run_batch, service), records=pairs
    )
    return job


def submit_file(service: DeliveryService, path: Path) -> Job:
    """Queue an uploaded CSV: checked now (encoding, the three columns, at least one
    row, the pair limit), read by the job. On success the job owns ``path``."""
    service.predictions.serve()
    encoding = detect_encoding(path, UPLOAD)
    header = read_csv_header(path, encoding, UPLOAD)
    missing = [c for c in PAIR_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            f"{UPLOAD} lacks the column(s) {', '.join(missing)}; it needs "
            f"{', '.join(PAIR_COLUMNS)} (has: {', '.join(header[:20])})"
        )
    # Read through once now: a file the job could not parse is a 422 here, and the
    # limit counts rows as the job will read them (not newlines: quotes, CR-only files).
    try:
        rows = sum(len(chunk) for chunk in csv_chunks(path, encoding))
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{UPLOAD} cannot be read as CSV: {str(exc)[:300]}") from None
    if rows < 1:
        raise InvalidInput(f"{UPLOAD} has a header but no rows")
    _limit(service, rows)
    job, _future = service.p.jobs.submit(
        app="delivery",
        kind=KIND,
        fn=partial(run_batch, service),
        params={"encoding": encoding},
        input_file=path,
        total=rows,
    )
    return job
