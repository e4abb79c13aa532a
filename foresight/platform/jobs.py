"""Background jobs with durable state in the database, run by an in-process worker pool.

A job moves queued → running → done | failed. Input and output are gzip-compressed JSON
arrays in chunks named by their first row: the input in chunks of
:data:`INPUT_CHUNK_ROWS` (``input:000000010000``), read by the job one at a time; the
output in chunks of :data:`CHUNK_ROWS` (``out:000000001000``): any replica pages a
million-row result reading only what it needs. A job may instead read a local file
(``input_file``, an upload say): the queue owns it and deletes it when the job ends. That
is durable enough, because a job is never re-run elsewhere (see below).

Each :class:`JobQueue` is an ``owner`` whose thread stamps ``heartbeat_at`` on its jobs;
:meth:`JobQueue.recover` fails only jobs with a stale heartbeat, never a live replica's.
Late finish: a worker's every write (start, progress, chunk, done, failed) is conditional
on its owner and status, so once a recovery failed a job its slow-but-alive worker stops
at its next write (:class:`JobLost`), its output is deleted and the job stays failed —
its caller was told to submit it again; a failed job never turns done.

A failed job's ``error`` is for its user: a :class:`ForesightError`'s message as is, any
other exception "internal error … (reference <job id>)", with the traceback in the log.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, Update, and_, delete, or_, update
from sqlalchemy.orm import Session

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import JobBlobRow, JobRow
from foresight.platform.errors import ForesightError
from foresight.platform.job_store import (
    _CHUNK,
    _INPUT,
    _META,
    ACTIVE,
    CHUNK_ROWS,
    INPUT_CHUNK_ROWS,
    MAX_ERRORS,
    Job,
    JobStore,
    pack,
)

log = structlog.get_logger(__name__)


class JobLost(RuntimeError):
    """This queue no longer holds the job: a recovery failed it after missed heartbeats."""


class JobContext:
    """What a running job sees: its input (records or ``input_file``), a progress
    reporter and a place for output."""

    def __init__(
        self,
        queue: JobQueue,
        job_id: str,
        params: dict[str, Any],
        input_file: Path | None = None,
    ) -> None:
        self.queue, self.job_id, self.params = queue, job_id, params
        self.input_file = input_file
        self.rows = 0  # output rows stored so far
        self.columns: dict[str, None] = {}  # output keys in first-seen order
        self.pending: list[dict[str, Any]] = []  # emitted rows not yet a full chunk

    def input(self) -> list[dict[str, Any]]:
        """Every input record at once (prefer :meth:`input_chunks` for big inputs)."""
        return self.queue.read_blob(self.job_id, "input")

    def input_chunks(self) -> Iterator[list[dict[str, Any]]]:
        """The input records, one stored chunk (:data:`INPUT_CHUNK_ROWS`) at a time."""
        return self.queue.input_chunks(self.job_id)

    def progress(self, *, done: int, failed: int = 0, total: int | None = None) -> None:
        """Report progress (also a heartbeat); raises :class:`JobLost` if recovered."""
        values = {"done": done, "failed": failed} | ({} if total is None else {"total": total})
        with self.queue.db.session() as s:
            self.queue._hold(s, self.job_id, **values)

    def emit(self, records: list[dict[str, Any]]) -> None:
        """Append output rows; each full chunk of :data:`CHUNK_ROWS` is stored at once."""
        for record in records:
            self.columns.update(dict.fromkeys(record))
        pending = self.pending + records if self.pending else records
        full = len(pending) - len(pending) % CHUNK_ROWS
        for start in range(0, full, CHUNK_ROWS):
            with self.queue.db.session() as s:
                self.queue._add_chunk(s, self, pending[start : start + CHUNK_ROWS])
        self.pending = list(pending[full:])


JobResult = dict[str, Any] | tuple[list[dict[str, Any]], dict[str, Any]] | None
JobFn = Callable[[JobContext], JobResult]
"""A job emits its output with ``ctx.emit`` and returns a summary dict (or, old style,
returns ``(records, summary)``). A summary's ``errors`` list holds per-row errors."""


SWITCH_SECONDS = 0.001


def share_the_gil() -> None:
    """Let other threads take the GIL from a busy job thread after 1 ms, not Python's 5 ms.

    Jobs run in the API's process: a request's path crosses threads (event loop, thread
    pool) a few times, and each crossing may wait a whole switch interval while a job
    scores in pure Python. Measured with a 300,000-row upload on a busy two-core machine,
    ``/live``'s slowest answer went from 270 ms to 80 ms; the job barely slows.

    A process-wide setting, so the API server sets it as it starts (its lifespan), not
    whoever happens to submit a job first."""
    if sys.getswitchinterval() > SWITCH_SECONDS:
        sys.setswitchinterval(SWITCH_SECONDS)


def internal_error(job_id: str) -> str:
    """A failed job's error when the cause is a bug or a fault, not the user's input."""
    return (
        f"internal error while running the job (reference {job_id}); "
        "the details are in the server log"
    )


_NO_SYNC = {"synchronize_session": False}  # core-style UPDATEs: no ORM objects to sync


def _rowcount(s: Session, stmt: Update) -> int:
    result = s.execute(stmt, execution_options=_NO_SYNC)
    return cast(CursorResult[Any], result).rowcount


class JobQueue(JobStore):
    """Durable jobs run by a thread pool; ``owner`` names this queue among replicas and
    ``clock`` stamps every time it writes (tests move it).

    ``discard`` deletes what a failing job stored outside its output; a job that fails
    here is discarded *before* its failed status commits, so nobody who sees "failed"
    can still read its leftovers. ``on_finish`` is told of every ended job afterwards.
    """

    def __init__(
        self,
        db: Database,
        *,
        workers: int = 2,
        owner: str | None = None,
        heartbeat_seconds: float = 5.0,
        stale_after_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        on_finish: Callable[[Job], None] | None = None,
        discard: Callable[[Job], None] | None = None,
    ) -> None:
        if stale_after_seconds <= heartbeat_seconds:
            raise ValueError("stale_after_seconds must exceed heartbeat_seconds")
        self.db = db
        self.owner = owner or f"{socket.gethostname()[:150]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after_seconds = stale_after_seconds
        self.clock = clock
        self.on_finish = on_finish or (lambda job: None)
        self.discard = discard or (lambda job: None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._beater: threading.Thread | None = None

    # ---- submitting and running ------------------------------------------------------
    def submit(
        self,
        *,
        app: str,
        kind: str,
        fn: JobFn,
        params: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        input_file: Path | None = None,
        total: int = 0,
    ) -> tuple[Job, Future[None]]:
        """Store a queued job (with its input ``records``, in chunks) owned by this queue
        and start it in the pool. ``input_file`` becomes the queue's: the job reads it
        (``ctx.input_file``) and it is deleted when the job ends, or now if this fails."""
        job_id, now = str(uuid.uuid4()), self.clock()
        params = params or {}
        try:
            with self.db.session() as s:
                row = JobRow(id=job_id, app=app, kind=kind, params=params, owner=self.owner)
                row.total, row.created_at, row.heartbeat_at = total or len(records or []), now, now
                s.add(row)
                s.flush()  # the job row must exist before its blobs (foreign key)
                for start in range(0, len(records or []), INPUT_CHUNK_ROWS):
                    part = pack((records or [])[start : start + INPUT_CHUNK_ROWS])
                    s.add(JobBlobRow(job_id=job_id, name=f"{_INPUT}{start:012d}", data=part))
            self._start_heartbeat()
            future = self._pool.submit(self._run, job_id, fn, params, input_file)
        except BaseException:
            if input_file is not None:
                input_file.unlink(missing_ok=True)
            raise
        future.add_done_callback(lambda f: self._cancelled(job_id, input_file, f))
        return self.get(job_id), future

    def _run(self, job_id: str, fn: JobFn, params: dict[str, Any], input_file: Path | None) -> None:
        now, ctx = self.clock(), JobContext(self, job_id, params, input_file)
        running = {"status": "running", "started_at": now, "heartbeat_at": now}
        try:
            with self.db.session() as s:
                if _rowcount(s, self._mine(job_id, "queued").values(running)) == 0:
                    raise JobLost(f"job {job_id} was recovered before it started")
            self._finish(ctx, self._summary(ctx, fn(ctx)))
        except JobLost:
            log.warning("job_lost", job_id=job_id, owner=self.owner)
            # The recovery discarded first; what this worker wrote since goes too.
            self._discard(job_id)
            with self.db.session() as s:
                self._delete_output(s, [job_id])
            return
        except ForesightError as exc:  # the job's own words: bad input, no model, …
            log.warning("job_failed", job_id=job_id, error=exc.message)
            if not self._fail(job_id, exc.message):
                return
        except Exception:
            log.exception("job_failed", job_id=job_id)
            if not self._fail(job_id, internal_error(job_id)):
                return
        finally:
            if input_file is not None:
                input_file.unlink(missing_ok=True)
        self._finished(job_id)

    def _fail(self, job_id: str, error: str) -> bool:
        """Discard what the job stored elsewhere, then mark it failed and drop its output;
        False if a recovery failed it first (and announced it)."""
        self._discard(job_id)
        failed = {"status": "failed", "finished_at": self.clock(), "error": error}
        with self.db.session() as s:
            self._delete_output(s, [job_id])
            return _rowcount(s, self._mine(job_id, "running").values(failed)) > 0

    def _cancelled(self, job_id: str, input_file: Path | None, future: Future[None]) -> None:
        """A queued job the pool dropped at shutdown: failed now, not left queued."""
        if not future.cancelled():
            return
        if input_file is not None:
            input_file.unlink(missing_ok=True)
        error = "cancelled: the server stopped before the job started; submit the job again"
        failed = {"status": "failed", "finished_at": self.clock(), "error": error}
        try:
            with self.db.session() as s:
                if _rowcount(s, self._mine(job_id, "queued").values(failed)) == 0:
                    return
        except Exception:  # the database may be away at shutdown: recovery fails it later
            log.warning("job_cancel_failed", job_id=job_id, exc_info=True)
            return
        self._finished(job_id)

    def _discard(self, job_id: str) -> None:
        """Run ``discard`` for a failing job; its failure is logged, never raised, so the
        job is still marked failed (``discard`` must be idempotent: a recovery may repeat it)."""
        try:
            self.discard(self.get(job_id))
        except Exception:
            log.exception("job_discard_failed", job_id=job_id)

    def _finished(self, job_id: str) -> None:
        """Tell ``on_finish`` a job ended; its failure is logged, never raised: the job
        has ended either way, and a recovery at start-up must go on."""
        try:
            self.on_finish(self.get(job_id))
        except Exception:
            log.exception("job_on_finish_failed", job_id=job_id)

    @staticmethod
    def _summary(ctx: JobContext, result: JobResult) -> dict[str, Any]:
        """The summary a job returned, emitting the records of an old-style tuple."""
        if isinstance(result, tuple):
            records, summary = result
            ctx.emit(records)
        else:
            summary = result or {}
        summary = dict(summary)
        errors = summary.get("errors")
        if isinstance(errors, list) and len(errors) > MAX_ERRORS:
            summary["error_count"] = summary.get("error_count", len(errors))
            summary["errors"] = errors[:MAX_ERRORS]
        return summary

    def _mine(self, job_id: str, status: str) -> Update:
        """An UPDATE of ``job_id`` that matches only while this queue holds it in ``status``."""
        return update(JobRow).where(
            JobRow.id == job_id, JobRow.owner == self.owner, JobRow.status == status
        )

    def _hold(self, s: Session, job_id: str, **values: Any) -> None:
        """Stamp a running job's heartbeat (and ``values``), or raise :class:`JobLost`."""
        stmt = self._mine(job_id, "running").values(heartbeat_at=self.clock(), **values)
        if _rowcount(s, stmt) == 0:
            raise JobLost(f"job {job_id} is no longer held by {self.owner}")

    def _add_chunk(self, s: Session, ctx: JobContext, rows: list[dict[str, Any]]) -> None:
        # The heartbeat UPDATE locks the job row until commit, so a concurrent recovery
        # either sees the fresh heartbeat or fails the job before this chunk lands.
        self._hold(s, ctx.job_id)
        s.add(JobBlobRow(job_id=ctx.job_id, name=f"{_CHUNK}{ctx.rows:012d}", data=pack(rows)))
        ctx.rows += len(rows)

    def _finish(self, ctx: JobContext, summary: dict[str, Any]) -> None:
        """Store the last chunk and the output's shape and mark the job done, atomically."""
        with self.db.session() as s:
            if ctx.pending:
                self._add_chunk(s, ctx, ctx.pending)
                ctx.pending = []
            meta = {"rows": ctx.rows, "columns": list(ctx.columns), "chunk_rows": CHUNK_ROWS}
            self._hold(s, ctx.job_id, status="done", finished_at=self.clock(), summary=summary)
            s.add(JobBlobRow(job_id=ctx.job_id, name=_META, data=pack([meta])))

    @staticmethod
    def _delete_output(s: Session, job_ids: list[str]) -> None:
        named = or_(JobBlobRow.name.like(f"{_CHUNK}%"), JobBlobRow.name == _META)
        s.execute(delete(JobBlobRow).where(JobBlobRow.job_id.in_(job_ids), named))

    # ---- heartbeats and recovery -----------------------------------------------------
    def beat(self) -> int:
        """Stamp ``heartbeat_at`` on every queued or running job this queue holds (one UPDATE)."""
        held = update(JobRow).where(JobRow.owner == self.owner, JobRow.status.in_(ACTIVE))
        with self.db.session() as s:
            return _rowcount(s, held.values(heartbeat_at=self.clock()))

    def _start_heartbeat(self) -> None:
        with self._lock:  # one thread per queue, started by the first job it holds
            if self._beater is None and not self._stopped.is_set():
                self._beater = threading.Thread(
                    target=self._beat_forever, name="job-heartbeat", daemon=True
                )
                self._beater.start()

    def _beat_forever(self) -> None:
        while not self._stopped.wait(self.heartbeat_seconds):
            try:
                self.beat()
            except Exception as exc:  # a database blip must not end the heartbeats
                log.warning("job_heartbeat_failed", owner=self.owner, error=str(exc))

    def recover(self) -> int:
        """Fail queued or running jobs whose owner stopped heartbeating; returns how many.

        Stale means a heartbeat older than ``stale_after_seconds`` (or none, and created
        before that). Jobs of live owners, this queue's included, are left alone.
        """
        now = self.clock()
        cutoff = now - timedelta(seconds=self.stale_after_seconds)
        beat = JobRow.heartbeat_at
        stale = or_(beat < cutoff, and_(beat.is_(None), JobRow.created_at < cutoff))
        error = (
            "interrupted: the process running it stopped (no heartbeat for "
            f"{self.stale_after_seconds:g} s); submit the job again"
        )
        stmt = update(JobRow).where(JobRow.status.in_(ACTIVE), stale)
        stmt = stmt.values(status="failed", finished_at=now, error=error)
        with self.db.session() as s:
            ids = list(s.scalars(stmt.returning(JobRow.id), execution_options=_NO_SYNC))
            self._delete_output(s, ids)
        log.info("jobs_recovered", count=len(ids), job_ids=ids)
        for job_id in ids:
            # The owner stopped, so its leftovers can only be discarded after the claim.
            self._discard(job_id)
            self._finished(job_id)
        return len(ids)

    # ---- reading ---------------------------------------------------------------------
    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs. With ``wait``, run the queued ones and return when all have
        ended; without it, queued jobs are cancelled (failed, "submit again") and running
        ones go on in the background. Either way heartbeats last until the running jobs
        end: a job left without them would be recovered as failed by another replica
        while it still runs here (the interpreter waits for pool threads at exit)."""
        if wait:
            self._pool.shutdown(wait=True)
            self._stopped.set()
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        threading.Thread(target=self._stop_after_jobs, name="job-drain", daemon=True).start()

    def _stop_after_jobs(self) -> None:
        self._pool.shutdown(wait=True)
        self._stopped.set()
