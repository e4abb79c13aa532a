"""Background jobs with durable state in the database, run by an in-process worker pool.

A job moves queued → running → done | failed. Its input and output are stored as
gzip-compressed JSON lines, so any API replica can answer for it. On start,
:meth:`JobQueue.recover` marks jobs left ``running`` or ``queued`` by a crashed process
as failed, so none stays stuck.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import JobBlobRow, JobRow
from foresight.platform.errors import JobNotFound

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    app: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    params: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def progress(self) -> float:
        return 1.0 if self.status == "done" else (self.done / self.total if self.total else 0.0)

    @classmethod
    def of(cls, r: JobRow) -> Job:
        return cls(
            r.id,
            r.app,
            r.kind,
            r.status,
            r.total,
            r.done,
            r.failed,
            r.params,
            r.summary,
            r.error,
            r.created_at,
            r.started_at,
            r.finished_at,
        )


def pack(records: Iterable[dict[str, Any]]) -> bytes:
    lines = "\n".join(json.dumps(r, default=str, separators=(",", ":")) for r in records)
    return gzip.compress(lines.encode(), compresslevel=3)


def unpack(data: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(data).decode()
    return [json.loads(line) for line in text.splitlines() if line]


class JobContext:
    """What a running job sees: its input, a progress reporter and a place for output."""

    def __init__(self, queue: JobQueue, job_id: str, params: dict[str, Any]) -> None:
        self.queue, self.job_id, self.params = queue, job_id, params

    def input(self) -> list[dict[str, Any]]:
        return self.queue.read_blob(self.job_id, "input")

    def progress(self, *, done: int, failed: int = 0, total: int | None = None) -> None:
        self.queue._update(self.job_id, done=done, failed=failed, total=total)


JobFn = Callable[[JobContext], tuple[list[dict[str, Any]], dict[str, Any]]]
"""A job returns its output records and a summary."""


class JobQueue:
    def __init__(
        self, db: Database, *, workers: int = 2, on_finish: Callable[[Job], None] | None = None
    ) -> None:
        self.db = db
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self.on_finish = on_finish or (lambda job: None)

    def submit(
        self,
        *,
        app: str,
        kind: str,
        fn: JobFn,
        params: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        total: int = 0,
    ) -> tuple[Job, Future[None]]:
        """Store a queued job (with its input) and start it in the pool."""
        job_id = str(uuid.uuid4())
        params = params or {}
        with self.db.session() as s:
            s.add(
                JobRow(
                    id=job_id, app=app, kind=kind, params=params, total=total or len(records or [])
                )
            )
            s.flush()  # the job row must exist before its blob (foreign key)
            if records is not None:
                s.add(JobBlobRow(job_id=job_id, name="input", data=pack(records)))
        future = self._pool.submit(self._run, job_id, fn, params)
        return self.get(job_id), future

    def _run(self, job_id: str, fn: JobFn, params: dict[str, Any]) -> None:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            assert row is not None
            row.status, row.started_at = "running", utcnow()
        try:
            output, summary = fn(JobContext(self, job_id, params))
            with self.db.session() as s:
                s.merge(JobBlobRow(job_id=job_id, name="output", data=pack(output)))
                row = s.get(JobRow, job_id)
                assert row is not None
                row.status, row.finished_at, row.summary = "done", utcnow(), summary
        except Exception as exc:
            log.exception("job_failed", job_id=job_id)
            with self.db.session() as s:
                row = s.get(JobRow, job_id)
                if row is not None:
                    row.status, row.finished_at = "failed", utcnow()
                    row.error = f"{type(exc).__name__}: {exc}"
        self.on_finish(self.get(job_id))

    def _update(self, job_id: str, *, done: int, failed: int, total: int | None) -> None:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return
            row.done, row.failed = done, failed
            if total is not None:
                row.total = total

    def get(self, job_id: str) -> Job:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job with id {job_id}")
            return Job.of(row)

    def read_blob(self, job_id: str, name: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            blob = s.get(JobBlobRow, (job_id, name))
            return unpack(blob.data) if blob else []

    def recent(self, app: str | None = None, limit: int = 50) -> list[Job]:
        with self.db.session() as s:
            q = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
            if app:
                q = q.where(JobRow.app == app)
            return [Job.of(r) for r in s.scalars(q)]

    def recover(self) -> int:
        """Mark jobs a dead process left unfinished as failed; returns how many."""
        with self.db.session() as s:
            rows = s.scalars(select(JobRow).where(JobRow.status.in_(("queued", "running")))).all()
            for row in rows:
                row.status, row.finished_at = "failed", utcnow()
                row.error = "interrupted: the process running it stopped; submit the job again"
            return len(rows)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
