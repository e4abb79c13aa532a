"""Jobs' input: records stored in chunks and read one at a time, files the queue owns,
and a failing ``on_finish`` that must not stop a recovery."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import JobBlobRow, JobRow
from foresight.platform.jobs import INPUT_CHUNK_ROWS, Job, JobContext, JobQueue
from tests.platform.test_jobs import T0, Clock, blob_names, blocking, fresh_job_log, queues

__all__ = ["queues"]  # a fixture shared with test_jobs.py (db comes from conftest)


def test_input_records_are_stored_and_read_a_chunk_at_a_time(
    db: Database, queues: Callable[..., JobQueue]
) -> None:
    queue = queues()
    records = [{"x": i} for i in range(INPUT_CHUNK_ROWS * 2 + 5)]
    seen: list[int] = []

    def count(ctx: JobContext) -> dict[str, Any]:
        seen.extend(len(chunk) for chunk in ctx.input_chunks())
        return {"n": len(ctx.input())}

    job, future = queue.submit(app="t", kind="count", fn=count, records=records)
    future.result(timeout=30)
    assert queue.get(job.id).summary == {"n": len(records)}
    assert seen == [INPUT_CHUNK_ROWS, INPUT_CHUNK_ROWS, 5]
    assert [n for n in blob_names(db, job.id) if n.startswith("input")] == [
        "input:000000000000",
        f"input:{INPUT_CHUNK_ROWS:012d}",
        f"input:{INPUT_CHUNK_ROWS * 2:012d}",
    ]
    assert queue.read_blob(job.id, "input") == records

    # A job stored before input was chunked: one blob named "input", in JSON lines.
    with db.session() as s:
        s.add(JobRow(id="legacy", app="t", kind="k", status="done", created_at=T0))
        s.flush()
        lines = gzip.compress(b'{"x":1}\n{"x":2}\n')
        s.add(JobBlobRow(job_id="legacy", name="input", data=lines))
    assert list(queue.input_chunks("legacy")) == [[{"x": 1}, {"x": 2}]]
    assert queue.read_blob("legacy", "input") == [{"x": 1}, {"x": 2}]


def test_an_input_file_is_the_queues_and_deleted_however_the_job_ends(
    tmp_path: Path, queues: Callable[..., JobQueue]
) -> None:
    queue = queues(owner="a", clock=Clock(), workers=1)

    def upload(name: str) -> Path:
        path = tmp_path / name
        path.write_text("id,age\nA1,31\n")
        return path

    read: list[str] = []

    def ok(ctx: JobContext) -> dict[str, Any]:
        assert ctx.input_file is not None
        read.append(ctx.input_file.read_text())
        return {}

    def boom(ctx: JobContext) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    for name, fn in (("done.csv", ok), ("failed.csv", boom)):
        path = upload(name)
        _, future = queue.submit(app="t", kind="k", fn=fn, input_file=path)
        future.result(timeout=10)
        assert not path.exists(), name
    assert read == ["id,age\nA1,31\n"]

    # Failed by another replica's recovery while queued: it never runs, its file goes.
    started, release = threading.Event(), threading.Event()
    _, blocked = queue.submit(app="t", kind="slow", fn=blocking(started, release))
    assert started.wait(10)
    path = upload("queued.csv")
    job, future = queue.submit(app="t", kind="k", fn=ok, input_file=path)
    assert queues(owner="b", clock=Clock(T0 + timedelta(seconds=60))).recover() == 2
    release.set()
    future.result(timeout=10)
    blocked.result(timeout=10)
    assert (queue.get(job.id).status, len(read), path.exists()) == ("failed", 1, False)

    # A submit that fails keeps nothing on disk either.
    queue.shutdown(wait=True)
    path = upload("refused.csv")
    with pytest.raises(RuntimeError):
        queue.submit(app="t", kind="k", fn=ok, input_file=path)
    assert not path.exists()


def test_a_failing_on_finish_is_logged_and_recovery_goes_on(
    db: Database, queues: Callable[..., JobQueue], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_job_log(monkeypatch)
    old = T0 - timedelta(seconds=60)
    with db.session() as s:
        for job_id in ("one", "two"):
            s.add(JobRow(id=job_id, app="t", kind="k", status="running", created_at=old))
    told: list[str] = []

    def on_finish(job: Job) -> None:
        told.append(job.id)
        raise RuntimeError("the app's clean-up failed")

    queue = queues(clock=Clock(), on_finish=on_finish)
    with capture_logs() as logs:
        assert queue.recover() == 2
    assert sorted(told) == ["one", "two"]
    assert sorted(e["job_id"] for e in logs if e["event"] == "job_on_finish_failed") == [
        "one",
        "two",
    ]
