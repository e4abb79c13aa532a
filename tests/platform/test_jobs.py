"""Platform jobs on SQLite and PostgreSQL: owners and heartbeats, recovery, chunked output."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from structlog.testing import capture_logs

from foresight.platform import job_store as jobs_module
from foresight.platform import jobs as job_queue_module
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import JobBlobRow, JobRow
from foresight.platform.errors import Conflict, InvalidInput, JobNotFound
from foresight.platform.jobs import (
    CHUNK_ROWS,
    MAX_ERRORS,
    Job,
    JobContext,
    JobLost,
    JobQueue,
)


def fresh_job_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new logger for the job queue, so ``capture_logs`` sees it: loggers are cached on
    first use (``cache_logger_on_first_use``), and another test may have used it first."""
    monkeypatch.setattr(job_queue_module, "log", structlog.get_logger("foresight.platform.jobs"))


T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STALE_ERROR = (
    "interrupted: the process running it stopped (no heartbeat for 30 s); submit the job again"
)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


@pytest.fixture
def queues(db: Database) -> Iterator[Callable[..., JobQueue]]:
    """Make JobQueues on ``db`` (or another Database); all are shut down afterwards."""
    made: list[JobQueue] = []

    def make(database: Database | None = None, **kwargs: Any) -> JobQueue:
        queue = JobQueue(database or db, **kwargs)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.shutdown(wait=True)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"row": i, "value": i * 2} for i in range(start, start + n)]


def blob_names(db: Database, job_id: str) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(JobBlobRow.name).where(JobBlobRow.job_id == job_id)))


def blocking(started: threading.Event, release: threading.Event, **extra: Any):
    def fn(ctx: JobContext) -> dict[str, Any]:
        ctx.emit(rows(extra.get("emit", 0)))
        started.set()
        assert release.wait(10)
        return {"n": 1}

    return fn


def test_a_live_owner_keeps_its_job_until_it_stops_heartbeating(
    db: Database, db_url: str, queues: Callable[..., JobQueue]
) -> None:
    other_db = Database(db_url)  # replica B: its own engine on the same database
    clock_a, clock_b = Clock(), Clock()
    # A's heartbeat thread would stamp A's own (standing) clock anyway; 20 s keeps it out.
    a = queues(owner="replica-a", clock=clock_a, heartbeat_seconds=20.0)
    b = queues(other_db, owner="replica-b", clock=clock_b)
    started, release = threading.Event(), threading.Event()
    job, future = a.submit(app="t", kind="slow", fn=blocking(started, release))
    assert started.wait(10)
    assert (job.owner, job.heartbeat_at) == ("replica-a", T0)

    clock_b.at(10)
    assert b.recover() == 0
    clock_a.at(20)
    assert a.beat() == 1 and b.beat() == 0
    clock_b.at(45)  # A's heartbeat is 25 s old: alive
    assert b.recover() == 0
    live = b.get(job.id)
    assert (live.status, live.owner, live.heartbeat_at) == (
        "running",
        "replica-a",
        T0 + timedelta(seconds=20),
    )

    clock_b.at(51)  # 31 s since A's last heartbeat: A hangs, its worker still in the job
    assert b.recover() == 1
    failed = b.get(job.id)
    assert (failed.status, failed.error, failed.finished_at) == ("failed", STALE_ERROR, clock_b.now)
    assert b.recover() == 0  # failed jobs are not recovered twice
    release.set()
    future.result(timeout=10)
    other_db.dispose()


def test_heartbeat_thread_stamps_every_job_its_owner_holds(
    queues: Callable[..., JobQueue],
) -> None:
    clock = Clock()
    a = queues(owner="a", clock=clock, heartbeat_seconds=0.02, stale_after_seconds=1.0)
    started, release = threading.Event(), threading.Event()
    running, _ = a.submit(app="t", kind="slow", fn=blocking(started, release))
    done, future = a.submit(app="t", kind="quick", fn=lambda ctx: {"ok": True})
    future.result(timeout=10)
    assert started.wait(10)
    clock.at(7)
    wait_for(lambda: a.get(running.id).heartbeat_at == T0 + timedelta(seconds=7))
    assert a.get(done.id).heartbeat_at == T0  # finished jobs are no longer stamped
    release.set()


def test_a_queue_shut_down_without_waiting_heartbeats_its_running_job_to_the_end(
    db: Database, db_url: str, queues: Callable[..., JobQueue]
) -> None:
    """Platform.close() does not wait for jobs; the running one must keep its heartbeat
    (another replica would fail it while it still runs here), the queued one is failed
    at once instead of waiting to be recovered."""
    other_db = Database(db_url)
    a = queues(owner="a", workers=1, heartbeat_seconds=0.05, stale_after_seconds=0.3)
    b = queues(other_db, owner="b", heartbeat_seconds=0.05, stale_after_seconds=0.3)
    started, release = threading.Event(), threading.Event()
    running, future = a.submit(app="t", kind="slow", fn=blocking(started, release))
    queued, _ = a.submit(app="t", kind="next", fn=lambda ctx: {"ran": True})
    assert started.wait(10)
    a.shutdown(wait=False)
    time.sleep(0.8)  # well past stale_after: only heartbeats keep the job alive
    assert b.recover() == 0
    assert a.get(queued.id).status == "failed"
    assert "submit the job again" in (a.get(queued.id).error or "")
    release.set()
    future.result(timeout=10)
    assert a.get(running.id).status == "done"
    other_db.dispose()


def test_recovery_of_jobs_without_heartbeat_goes_by_their_age(
    db: Database, queues: Callable[..., JobQueue]
) -> None:
    old, young = T0 - timedelta(seconds=60), T0 - timedelta(seconds=10)
    with db.session() as s:
        s.add(JobRow(id="old", app="t", kind="k", status="running", created_at=old))
        s.add(JobRow(id="young", app="t", kind="k", status="queued", created_at=young))
        s.add(JobRow(id="done", app="t", kind="k", status="done", created_at=old))
    finished: list[Job] = []
    queue = queues(clock=Clock(), on_finish=finished.append)
    assert queue.recover() == 1
    assert [j.id for j in finished] == ["old"]
    assert (queue.get("old").status, queue.get("old").error) == ("failed", STALE_ERROR)
    assert queue.get("young").status == "queued"
    assert queue.get("done").status == "done"


def test_a_recovered_job_never_turns_done_when_its_slow_worker_finishes(
    db: Database, queues: Callable[..., JobQueue]
) -> None:
    clock = Clock()
    finished_a: list[Job] = []
    discarded_a: list[str] = []
    a = queues(
        owner="a",
        clock=clock,
        workers=1,
        heartbeat_seconds=20.0,
        on_finish=finished_a.append,
        discard=lambda j: discarded_a.append(j.id),
    )
    b = queues(owner="b", clock=clock)
    started, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow(ctx: JobContext) -> dict[str, Any]:
        ctx.emit(rows(CHUNK_ROWS + 5))  # one chunk stored, five rows pending
        started.set()
        assert release.wait(10)
        try:
            ctx.progress(done=1)
        except JobLost as exc:
            seen.append(type(exc).__name__)
            raise
        return {"n": 1}

    ran_queued: list[bool] = []
    job, future = a.submit(app="t", kind="slow", fn=slow)
    queued, queued_future = a.submit(app="t", kind="next", fn=lambda ctx: ran_queued.append(True))
    assert started.wait(10)
    assert blob_names(db, job.id) == ["out:000000000000"]

    clock.at(31)  # A's process hangs: no heartbeat for 31 s, its worker still busy
    assert b.recover() == 2
    release.set()
    future.result(timeout=10)
    queued_future.result(timeout=10)

    assert seen == ["JobLost"]  # the worker learns at its next write and stops
    assert ran_queued == []  # a job recovered while queued never starts
    for job_id in (job.id, queued.id):
        lost = a.get(job_id)
        assert (lost.status, lost.error, lost.summary) == ("failed", STALE_ERROR, {})
    assert blob_names(db, job.id) == []  # its partial output is gone
    assert finished_a == []  # B announced the failures, not A
    # What A's worker wrote after B's recovery goes too: A discards once it learns.
    assert discarded_a == [job.id, queued.id]
    with pytest.raises(Conflict, match="failed and has no results"):
        a.results(job.id)


def test_emitted_chunks_page_across_boundaries(
    db: Database, queues: Callable[..., JobQueue], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = queues()
    expected = rows(2500)
    expected[1500]["note"] = "late column"

    def emit_unevenly(ctx: JobContext) -> dict[str, Any]:
        for start, end in ((0, 700), (700, 1400), (1400, 1401), (1401, 2500)):
            ctx.emit(expected[start:end])
        ctx.progress(done=2500)
        return {"emitted": 2500}

    job, future = queue.submit(app="t", kind="emit", fn=emit_unevenly, total=2500)
    future.result(timeout=30)
    done = queue.get(job.id)
    assert (done.status, done.done, done.progress, done.summary) == (
        "done",
        2500,
        1.0,
        {"emitted": 2500},
    )
    assert blob_names(db, job.id) == [
        "out:000000000000",
        "out:000000001000",
        "out:000000002000",
        "output-meta",
    ]
    assert queue.result_count(job.id) == 2500
    assert queue.result_columns(job.id) == ["row", "value", "note"]

    loaded: list[int] = []
    real_unpack = jobs_module.unpack
    monkeypatch.setattr(jobs_module, "unpack", lambda data: loaded.append(1) or real_unpack(data))
    assert queue.results(job.id, offset=990, limit=20) == expected[990:1010]
    assert len(loaded) == 2  # only the two chunks holding rows 990–1009
    loaded.clear()
    assert queue.results(job.id, offset=1500, limit=1) == [expected[1500]]
    assert len(loaded) == 1
    assert queue.results(job.id) == expected[:1000]
    assert queue.results(job.id, offset=1000, limit=1000) == expected[1000:2000]
    assert queue.results(job.id, offset=2490, limit=1000) == expected[2490:]
    assert queue.results(job.id, offset=999, limit=1002) == expected[999:2001]
    assert queue.results(job.id, offset=2500) == []
    assert queue.results(job.id, offset=10_000) == []
    assert queue.results(job.id, limit=0) == []
    assert list(queue.iter_results(job.id)) == expected
    with pytest.raises(InvalidInput):
        queue.results(job.id, offset=-1)


def test_old_style_tuple_job_is_emitted_and_read_whole_as_output(
    db: Database, queues: Callable[..., JobQueue]
) -> None:
    queue = queues()

    def old_style(ctx: JobContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        records = ctx.input()
        return [{"x": r["x"] * 2} for r in records], {"n": len(records)}

    records = [{"x": i} for i in range(CHUNK_ROWS * 2)]
    job, future = queue.submit(app="t", kind="double", fn=old_style, records=records)
    future.result(timeout=30)
    done = queue.get(job.id)
    assert (done.status, done.total, done.summary) == ("done", 2000, {"n": 2000})
    assert blob_names(db, job.id) == [
        "input:000000000000",
        "out:000000000000",
        "out:000000001000",
        "output-meta",
    ]
    assert queue.result_count(job.id) == 2000
    assert queue.results(job.id, offset=1999) == [{"x": 3998}]
    assert queue.read_blob(job.id, "output") == [{"x": i * 2} for i in range(2000)]


def test_a_failing_job_says_what_happened_and_keeps_no_output(
    db: Database, queues: Callable[..., JobQueue], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_job_log(monkeypatch)
    finished: list[Job] = []
    queue = queues(on_finish=finished.append)

    def boom(ctx: JobContext) -> dict[str, Any]:
        ctx.emit(rows(CHUNK_ROWS))
        raise ValueError("list index out of range")  # a bug: its text means nothing to users

    with capture_logs() as logs:
        job, future = queue.submit(app="t", kind="boom", fn=boom, records=[{"x": 1}])
        future.result(timeout=10)
    failed = queue.get(job.id)
    internal = (
        f"internal error while running the job (reference {job.id}); "
        "the details are in the server log"
    )
    assert (failed.status, failed.error) == ("failed", internal)
    logged = [e for e in logs if e["event"] == "job_failed"]
    assert [(e["job_id"], e["log_level"], "exc_info" in e) for e in logged] == [
        (job.id, "error", True)
    ]
    assert [(j.id, j.status) for j in finished] == [(job.id, "failed")]
    assert blob_names(db, job.id) == ["input:000000000000"]
    with pytest.raises(Conflict, match=r"internal error while running the job \(reference"):
        queue.results(job.id)

    def refuse(ctx: JobContext) -> dict[str, Any]:
        raise InvalidInput("row 7: tenure must be a number; fix the file and submit it again")

    job, future = queue.submit(app="t", kind="refuse", fn=refuse)
    future.result(timeout=10)
    assert queue.get(job.id).error == (
        "row 7: tenure must be a number; fix the file and submit it again"
    )


def test_a_failing_job_is_discarded_before_anyone_can_read_it_failed(
    db: Database, queues: Callable[..., JobQueue]
) -> None:
    # A client polling the status must never see "failed" while the job's leftovers
    # (predictions an app stored as it went) still exist.
    seen: list[tuple[str, str]] = []
    queue = queues(clock=Clock())
    queue.discard = lambda job: seen.append((job.id, queue.get(job.id).status))
    finished: list[str] = []
    queue.on_finish = lambda job: finished.append(job.status)

    def refuse(ctx: JobContext) -> dict[str, Any]:
        raise InvalidInput("row 7: tenure must be a number")

    job, future = queue.submit(app="t", kind="refuse", fn=refuse)
    future.result(timeout=10)
    assert seen == [(job.id, "running")]
    assert (queue.get(job.id).status, finished) == ("failed", ["failed"])

    def broken_discard(job: Job) -> None:
        raise RuntimeError("the app's store is away")

    queue.discard = broken_discard  # the job still fails, in its own words
    job, future = queue.submit(app="t", kind="refuse", fn=refuse)
    future.result(timeout=10)
    assert queue.get(job.id).error == "row 7: tenure must be a number"

    with db.session() as s:  # a replica that stopped: discarded after the claim
        s.add(
            JobRow(
                id="orphan",
                app="t",
                kind="k",
                status="running",
                created_at=T0 - timedelta(seconds=60),
            )
        )
    seen.clear()
    queue.discard = lambda job: seen.append((job.id, job.status))
    assert queue.recover() == 1
    assert seen == [("orphan", "failed")]


def test_row_errors_are_capped_and_counted(queues: Callable[..., JobQueue]) -> None:
    queue = queues()
    errors = [{"row": i, "message": "bad"} for i in range(MAX_ERRORS + 5)]
    job, future = queue.submit(app="t", kind="errs", fn=lambda ctx: {"errors": errors, "ok": 0})
    future.result(timeout=10)
    done = queue.get(job.id)
    assert len(done.row_errors) == MAX_ERRORS and done.row_errors[-1] == {
        "row": 9999,
        "message": "bad",
    }
    assert (done.error_count, done.summary["error_count"], done.summary["ok"]) == (
        10_005,
        10_005,
        0,
    )


def test_results_wait_for_done_and_unknown_jobs_are_not_found(
    queues: Callable[..., JobQueue],
) -> None:
    queue = queues()
    started, release = threading.Event(), threading.Event()
    job, future = queue.submit(app="t", kind="slow", fn=blocking(started, release), total=4)
    assert started.wait(10)
    with pytest.raises(Conflict) as caught:
        queue.results(job.id)
    assert caught.value.message == (
        f"job {job.id} is running (0%); its results can be read once its status is done"
    )
    with pytest.raises(Conflict):
        queue.iter_results(job.id)  # checked before the first row is asked for
    release.set()
    future.result(timeout=10)
    assert queue.results(job.id) == [] and queue.result_count(job.id) == 0
    with pytest.raises(JobNotFound, match="no job with id nope"):
        queue.get("nope")
    with pytest.raises(JobNotFound):
        queue.results("nope")


def test_stale_after_must_exceed_the_heartbeat(db: Database) -> None:
    with pytest.raises(ValueError, match="must exceed"):
        JobQueue(db, heartbeat_seconds=5.0, stale_after_seconds=5.0)
