"""Jobs as stored: the job record, and reading a job's output a page or a chunk at a
time (the writing side, workers and heartbeats, is :mod:`foresight.platform.jobs`)."""

from __future__ import annotations

import gzip
import json
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import JobBlobRow, JobRow
from foresight.platform.errors import Conflict, InvalidInput, JobNotFound

CHUNK_ROWS = 1000
"""Output rows per stored chunk: a default page (1,000 rows) touches one or two chunks."""
INPUT_CHUNK_ROWS = 10_000
"""Input rows per stored chunk: a job reads its input one chunk at a time."""
MAX_ERRORS = 10_000
"""Per-row errors kept in a summary; ``error_count`` keeps the true number."""
ACTIVE = ("queued", "running")
_CHUNK = "out:"  # + the chunk's first row, 12 digits, so names sort by row
_INPUT = "input:"  # the same for input chunks
_LEGACY_INPUT = "input"  # the whole input in one blob, as jobs before chunking stored it
_META = "output-meta"  # row count and columns of a finished job's output
_LEGACY = "output"  # the whole output in one blob, as jobs before chunking stored it


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
    owner: str | None = None
    heartbeat_at: datetime | None = None

    @property
    def progress(self) -> float:
        return 1.0 if self.status == "done" else (self.done / self.total if self.total else 0.0)

    @property
    def row_errors(self) -> list[dict[str, Any]]:
        """The per-row errors the job reported (at most :data:`MAX_ERRORS`)."""
        errors = self.summary.get("errors")
        return errors if isinstance(errors, list) else []

    @property
    def error_count(self) -> int:
        """How many per-row errors there were, including any beyond the kept ones."""
        return int(self.summary.get("error_count", len(self.row_errors)))

    @classmethod
    def of(cls, r: JobRow) -> Job:
        return cls(**{f.name: getattr(r, f.name) for f in fields(cls)})


# A blob is one JSON array: encoded and decoded in one call each, about three times
# faster than a JSON line per row, which older blobs hold (still read).
_ENCODE = json.JSONEncoder(default=str, separators=(",", ":")).encode


def pack(records: Iterable[dict[str, Any]]) -> bytes:
    rows = records if isinstance(records, list) else list(records)
    return gzip.compress(_ENCODE(rows).encode(), compresslevel=3)


def unpack(data: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(data).decode()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line]


class JobStore:
    """Reads and retention of stored jobs; :class:`~foresight.platform.jobs.JobQueue`
    adds running them."""

    db: Database

    def get(self, job_id: str) -> Job:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job with id {job_id}")
            return Job.of(row)

    def recent(self, app: str | None = None, limit: int = 50) -> list[Job]:
        with self.db.session() as s:
            q = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
            if app:
                q = q.where(JobRow.app == app)
            return [Job.of(r) for r in s.scalars(q)]

    def read_blob(self, job_id: str, name: str) -> list[dict[str, Any]]:
        """A stored blob; ``"output"`` assembles every output chunk and ``"input"`` every
        input chunk (prefer the pagers and :meth:`input_chunks`)."""
        if name == _LEGACY:
            return list(self._rows(job_id))
        if name == _LEGACY_INPUT:
            return [row for chunk in self.input_chunks(job_id) for row in chunk]
        with self.db.session() as s:
            return self._load(s, job_id, name)

    def input_chunks(self, job_id: str) -> Iterator[list[dict[str, Any]]]:
        """A job's input records, one stored chunk at a time (one short session each)."""
        named = or_(JobBlobRow.name.like(f"{_INPUT}%"), JobBlobRow.name == _LEGACY_INPUT)
        with self.db.session() as s:
            names = sorted(
                s.scalars(select(JobBlobRow.name).where(JobBlobRow.job_id == job_id, named))
            )
        for name in names:
            with self.db.session() as s:
                chunk = self._load(s, job_id, name)
            yield chunk

    def results(self, job_id: str, *, offset: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Output rows ``offset`` to ``offset + limit - 1`` of a done job (only the chunks
        holding them are read); :class:`Conflict` while the job is not done."""
        if offset < 0 or limit < 0:
            raise InvalidInput(f"offset ({offset}) and limit ({limit}) must be 0 or more")
        self._require_done(job_id)
        with self.db.session() as s:
            chunks = self._chunks(s, job_id)
            first = max(bisect_right([start for start, _ in chunks], offset) - 1, 0)
            wanted = [c for c in chunks[first:] if c[0] < offset + limit]
            if not wanted or limit == 0:
                return []
            rows = [row for _, name in wanted for row in self._load(s, job_id, name)]
        skip = offset - wanted[0][0]
        return rows[skip : skip + limit]

    def iter_results(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every output row of a done job, read chunk by chunk (checked before iterating)."""
        self._require_done(job_id)
        return self._rows(job_id)

    def result_count(self, job_id: str) -> int:
        """How many output rows a done job stored."""
        return int(self._meta(job_id)["rows"])

    def result_columns(self, job_id: str) -> list[str]:
        """Every key of a done job's output rows, in first-seen order."""
        return [str(c) for c in self._meta(job_id)["columns"]]

    def _require_done(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.status == "failed":
            raise Conflict(f"job {job_id} failed and has no results: {job.error}")
        if job.status != "done":
            raise Conflict(
                f"job {job_id} is {job.status} ({job.progress:.0%}); "
                "its results can be read once its status is done"
            )
        return job

    def _rows(self, job_id: str) -> Iterator[dict[str, Any]]:
        # One short session per chunk: a slow reader (a CSV download) holds no transaction.
        with self.db.session() as s:
            names = [name for _, name in self._chunks(s, job_id)]
        for name in names:
            with self.db.session() as s:
                rows = self._load(s, job_id, name)
            yield from rows

    @staticmethod
    def _chunks(s: Session, job_id: str) -> list[tuple[int, str]]:
        """(first row, name) of each output chunk, in order."""
        named = or_(JobBlobRow.name.like(f"{_CHUNK}%"), JobBlobRow.name == _LEGACY)
        q = select(JobBlobRow.name).where(JobBlobRow.job_id == job_id, named)
        # A job has either chunks or, if it finished before output was chunked, _LEGACY.
        return [(0 if n == _LEGACY else int(n[len(_CHUNK) :]), n) for n in sorted(s.scalars(q))]

    def _meta(self, job_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            found = self._load(s, job_id, _META)
        if found:
            return found[0]
        rows, columns = 0, dict[str, None]()  # no meta: a _LEGACY job, or not done yet
        for row in self._rows(job_id):
            rows += 1
            columns.update(dict.fromkeys(row))
        return {"rows": rows, "columns": list(columns)}

    @staticmethod
    def _load(s: Session, job_id: str, name: str) -> list[dict[str, Any]]:
        blob = s.get(JobBlobRow, (job_id, name))
        return unpack(blob.data) if blob else []

    def purge(self, before: datetime) -> int:
        """Retention: delete finished jobs (and their input and output) created before
        ``before``; queued and running ones are kept whatever their age."""
        with self.db.session() as s:
            ids = list(
                s.scalars(
                    select(JobRow.id).where(
                        JobRow.created_at < before, JobRow.status.in_(("done", "failed"))
                    )
                )
            )
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                s.execute(delete(JobBlobRow).where(JobBlobRow.job_id.in_(chunk)))
                s.execute(delete(JobRow).where(JobRow.id.in_(chunk)))
        return len(ids)
