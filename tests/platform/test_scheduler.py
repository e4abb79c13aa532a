"""The scheduler on SQLite and PostgreSQL: one run per slot across owners, lease expiry
and renewal, back-off, the due guard, manual runs and status; then, through a Platform,
app tasks (``App.tasks``) and the ``after_scheduled_run`` hook. Time is a fake clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from foresight.cli import app as cli
from foresight.platform.apps import ModelSpec, TaskSpec
from foresight.platform.db.engine import Database
from foresight.platform.db.migrate import alembic_config
from foresight.platform.errors import Conflict, InvalidInput, NotFound
from foresight.platform.runtime import Platform
from foresight.platform.scheduler import ScheduledTaskRow, Scheduler, TaskStatus
from foresight.platform.training import TrainingOutcome, no_progress
from tests.conftest import make_settings
from tests.example_app import TipsApp
from tests.example_app.schemas import TipsSettings

MONDAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = MONDAY) -> None:
        self.now = now
        self.fail_next = 0

    def __call__(self) -> datetime:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("clock broke")
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Died(BaseException):
    """Stands in for a process killed mid-run: nothing after it is recorded."""


@pytest.fixture
def db2(db: Database) -> Iterator[Database]:
    """A second connection pool on the same database: another process."""
    other = Database(db.url)
    yield other
    other.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def row(db: Database, name: str = "t") -> ScheduledTaskRow:
    with db.session() as s:
        found = s.get(ScheduledTaskRow, name)
        assert found is not None
        return found


def test_migration_creates_the_table(db: Database) -> None:
    inspector = inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns("scheduled_tasks")}
    assert list(columns) == [
        "name",
        "schedule",
        "owner",
        "lease_expires_at",
        "next_run_at",
        "last_started_at",
        "last_finished_at",
        "last_status",
        "last_error",
        "failures",
        "runs",
    ]
    assert [c for c in columns if not columns[c]["nullable"]] == [
        "name",
        "schedule",
        "failures",
        "runs",
    ]
    pk = inspector.get_pk_constraint("scheduled_tasks")
    assert pk["constrained_columns"] == ["name"]
    if not db.is_sqlite:  # SQLite does not keep primary-key names
        assert pk["name"] == "pk_scheduled_tasks"
    with db.engine.connect() as conn:
        versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    # Later migrations follow 0003 in the chain: it must be applied, not be the head.
    script = ScriptDirectory.from_config(alembic_config(db))
    applied = {r.revision for r in script.iterate_revisions(tuple(versions), "base")}
    assert {"0002_events", "0003_scheduler"} <= applied


def test_register_sets_next_run_once_and_again_on_a_changed_schedule(
    db: Database, clock: FakeClock
) -> None:
    Scheduler(db, clock=clock).register("t", "DAILY 3:00", lambda: None)
    assert (row(db).schedule, row(db).next_run_at) == (
        "daily 03:00",
        datetime(2026, 1, 6, 3, 0, tzinfo=UTC),
    )

    clock.advance(3600)  # another replica starts later with the same schedule: no change
    Scheduler(db, clock=clock).register("t", "daily 03:00", lambda: None)
    assert row(db).next_run_at == datetime(2026, 1, 6, 3, 0, tzinfo=UTC)

    Scheduler(db, clock=clock).register("t", "hourly", lambda: None)
    assert (row(db).schedule, row(db).next_run_at) == (
        "hourly",
        datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )

    with pytest.raises(InvalidInput, match="accepted schedules"):
        Scheduler(db, clock=clock).register("t", "nightly", lambda: None)


def test_runs_when_due_and_moves_to_the_next_slot(db: Database, clock: FakeClock) -> None:
    calls: list[str] = []
    results: list[tuple[str, object]] = []
    sched = Scheduler(
        db, owner="a", clock=clock, on_success=lambda name, result: results.append((name, result))
    )

    def train() -> int:
        calls.append("run")
        return 42

    sched.register("t", "daily 03:00", train)
    assert sched.tick() == []
    clock.now = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    assert sched.tick() == ["t"]
    assert sched.tick() == []
    assert calls == ["run"]
    assert results == [("t", 42)]
    assert sched.status() == [
        TaskStatus(
            name="t",
            schedule="daily 03:00",
            next_run_at=datetime(2026, 1, 7, 3, 0, tzinfo=UTC),
            last_started_at=clock.now,
            last_finished_at=clock.now,
            last_status="succeeded",
            last_error=None,
            failures=0,
            runs=1,
            running_owner=None,
        )
    ]
    assert (row(db).owner, row(db).lease_expires_at) == (None, None)


def test_two_owners_run_each_slot_once(db: Database, db2: Database, clock: FakeClock) -> None:
    calls: list[str] = []
    a, b = Scheduler(db, owner="a", clock=clock), Scheduler(db2, owner="b", clock=clock)
    a.register("t", "hourly", lambda: calls.append("a"))
    b.register("t", "hourly", lambda: calls.append("b"))
    clock.advance(3600)
    assert (a.tick(), b.tick()) == (["t"], [])
    clock.advance(3600)
    assert (b.tick(), a.tick()) == (["t"], [])
    assert calls == ["a", "b"]
    assert row(db).runs == 2


def test_racing_ticks_in_threads_run_each_slot_once(
    db: Database, db2: Database, clock: FakeClock
) -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def work(who: str) -> None:
        with lock:
            calls.append(who)

    a, b = Scheduler(db, owner="a", clock=clock), Scheduler(db2, owner="b", clock=clock)
    a.register("t", "hourly", lambda: work("a"))
    b.register("t", "hourly", lambda: work("b"))

    def race(sched: Scheduler, barrier: threading.Barrier, ran: list[str]) -> None:
        barrier.wait()
        ran.extend(sched.tick())

    slots = 6
    for _ in range(slots):
        clock.advance(3600)
        barrier = threading.Barrier(2)
        ran: tuple[list[str], list[str]] = ([], [])
        threads = [
            threading.Thread(target=race, args=(s, barrier, r))
            for s, r in zip((a, b), ran, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(ran[0] + ran[1]) == ["t"]
    assert len(calls) == slots
    assert row(db).runs == slots


def test_expired_lease_of_a_dead_owner_is_recovered(
    db: Database, db2: Database, clock: FakeClock
) -> None:
    def die() -> None:
        raise Died

    failures: list[tuple[str, str, int]] = []
    seen: list[tuple[str | None, str | None]] = []

    def guard(now: datetime) -> bool:
        seen.append((row(db2).last_status, row(db2).last_error))
        return True

    a = Scheduler(db, owner="a", clock=clock, lease_seconds=300)
    b = Scheduler(
        db2, owner="b", clock=clock, lease_seconds=300, on_failure=lambda *f: failures.append(f)
    )
    a.register("t", "hourly", die)
    b.register("t", "hourly", lambda: "ok", due=guard)
    clock.advance(3600)
    with pytest.raises(Died):
        a.tick()  # "a" took the lease and never finished
    assert (b.status()[0].last_status, b.status()[0].running_owner) == ("running", "a")

    clock.advance(299)  # the lease still holds
    assert b.tick() == []
    assert failures == []

    clock.advance(2)
    assert b.tick() == ["t"]
    assert seen == [("interrupted", "Interrupted: lease of a expired")]
    assert failures == [("t", "Interrupted: lease of a expired", 1)]
    status = b.status()[0]
    assert (status.last_status, status.failures, status.runs) == ("succeeded", 0, 2)
    assert status.next_run_at == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_lease_renewal_keeps_a_long_run_from_being_stolen(
    db: Database, db2: Database, clock: FakeClock
) -> None:
    lease = 0.3  # renewed every 0.1 real seconds
    stolen: list[list[str]] = []

    def wait_for_renewal() -> None:
        deadline = time.monotonic() + 5
        while row(db).lease_expires_at != clock.now + timedelta(seconds=lease):
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.01)

    def long_training() -> None:
        for _ in range(4):  # 0.8 clock-seconds in all: well past one lease
            clock.advance(0.2)
            wait_for_renewal()
            stolen.append(b.tick())

    a = Scheduler(db, owner="a", clock=clock, lease_seconds=lease)
    b = Scheduler(db2, owner="b", clock=clock, lease_seconds=lease)
    a.register("t", "hourly", long_training)
    b.register("t", "hourly", lambda: pytest.fail("b stole the run"))
    clock.advance(3600)
    assert a.tick() == ["t"]
    assert stolen == [[], [], [], []]
    status = a.status()[0]
    assert (status.last_status, status.runs, status.failures) == ("succeeded", 1, 0)
    assert status.last_finished_at == status.last_started_at + timedelta(seconds=0.8)  # type: ignore[operator]


def test_failures_back_off_doubling_up_to_the_cap(db: Database, clock: FakeClock) -> None:
    announced: list[tuple[str, str, int]] = []
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) <= 4:
            raise RuntimeError(f"boom {len(attempts)}")

    sched = Scheduler(
        db,
        owner="a",
        clock=clock,
        retry_base_seconds=60,
        retry_max_seconds=200,
        on_failure=lambda *f: announced.append(f),
    )
    sched.register("t", "every 1d", flaky)
    clock.advance(86400)
    waits = []
    for _ in range(4):
        assert sched.tick() == ["t"]
        failed_at = clock.now
        waits.append((row(db).next_run_at - failed_at).total_seconds())  # type: ignore[operator]
        clock.advance(waits[-1] - 1)
        assert sched.tick() == []  # not before the back-off is over
        clock.advance(1)
    assert waits == [60, 120, 200, 200]
    assert announced == [("t", f"RuntimeError: boom {i}", i) for i in (1, 2, 3, 4)]
    assert (row(db).last_status, row(db).last_error, row(db).failures) == (
        "failed",
        "RuntimeError: boom 4",
        4,
    )
    assert sched.tick() == ["t"]
    assert (row(db).last_status, row(db).last_error, row(db).failures, row(db).runs) == (
        "succeeded",
        None,
        0,
        5,
    )
    assert row(db).next_run_at == clock.now + timedelta(days=1)


def test_long_errors_are_truncated(db: Database, clock: FakeClock) -> None:
    def fail() -> None:
        raise ValueError("x" * 5000)

    sched = Scheduler(db, clock=clock)
    sched.register("t", "hourly", fail)
    sched.run_now("t")
    assert row(db).last_error == "ValueError: " + "x" * (2000 - len("ValueError: "))


def test_due_guard_pushes_the_task_to_its_next_slot(db: Database, clock: FakeClock) -> None:
    asked: list[datetime] = []
    answer = [False]
    calls: list[int] = []

    def has_data(now: datetime) -> bool:
        asked.append(now)
        return answer[0]

    sched = Scheduler(db, owner="a", clock=clock)
    sched.register("t", "hourly", lambda: calls.append(1), due=has_data)
    clock.advance(3600)
    assert sched.tick() == []
    assert asked == [datetime(2026, 1, 5, 11, 0, tzinfo=UTC)]
    r = row(db)
    assert (r.next_run_at, r.runs, r.last_status, r.owner, r.lease_expires_at) == (
        datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
        0,
        None,
        None,
        None,
    )
    assert sched.tick() == []  # not asked again before the next slot
    answer[0] = True
    clock.advance(3600)
    assert sched.tick() == ["t"]
    assert calls == [1]
    assert len(asked) == 2


def test_a_due_guard_that_raises_is_a_failure(db: Database, clock: FakeClock) -> None:
    def broken(now: datetime) -> bool:
        raise KeyError("table")

    announced: list[tuple[str, str, int]] = []
    sched = Scheduler(db, clock=clock, on_failure=lambda *f: announced.append(f))
    sched.register("t", "hourly", lambda: None, due=broken)
    clock.advance(3600)
    assert sched.tick() == []
    assert announced == [("t", "KeyError: 'table'", 1)]
    assert (row(db).last_status, row(db).runs, row(db).owner) == ("failed", 0, None)


def test_run_now_ignores_the_slot_and_the_guard(
    db: Database, db2: Database, clock: FakeClock
) -> None:
    calls: list[int] = []
    sched = Scheduler(db, owner="a", clock=clock)
    sched.register("t", "off", lambda: calls.append(1), due=lambda now: False)
    assert row(db).next_run_at is None
    clock.advance(86400 * 365)
    assert sched.tick() == []  # "off" is never due
    status = sched.run_now("t")
    assert calls == [1]
    assert (status.last_status, status.runs, status.next_run_at) == ("succeeded", 1, None)

    with pytest.raises(NotFound, match="no scheduled task 'nope'"):
        sched.run_now("nope")

    refused: list[str] = []

    def run_a_meanwhile() -> None:
        with pytest.raises(Conflict, match="'t' is running in another process") as caught:
            sched.run_now("t")  # "b" holds the lease: "a" is refused
        refused.append(caught.value.message)

    other = Scheduler(db2, owner="b", clock=clock)
    other.register("t", "off", run_a_meanwhile)
    status = other.run_now("t")
    assert len(refused) == 1
    assert (status.last_status, status.runs, calls) == ("succeeded", 2, [1])


def test_status_shows_a_running_task_and_its_owner(db: Database, clock: FakeClock) -> None:
    inside: list[TaskStatus] = []
    sched = Scheduler(db, owner="host:1:abc", clock=clock)
    sched.register("t", "weekly sun 18:30", lambda: inside.extend(sched.status()))
    sched.register("u", "every 6h", lambda: None)
    sched.run_now("t")
    assert inside == [
        TaskStatus(
            name="t",
            schedule="weekly sun 18:30",
            next_run_at=datetime(2026, 1, 11, 18, 30, tzinfo=UTC),
            last_started_at=MONDAY,
            last_finished_at=None,
            last_status="running",
            last_error=None,
            failures=0,
            runs=1,
            running_owner="host:1:abc",
        ),
        TaskStatus(
            name="u",
            schedule="every 6h",
            next_run_at=MONDAY + timedelta(hours=6),
            last_started_at=None,
            last_finished_at=None,
            last_status=None,
            last_error=None,
            failures=0,
            runs=0,
            running_owner=None,
        ),
    ]


def test_default_owner_is_host_pid_random(db: Database) -> None:
    owner = Scheduler(db).owner
    host, pid, token = owner.rsplit(":", 2)
    assert (pid, len(token)) == (str(__import__("os").getpid()), 6)
    assert host
    assert Scheduler(db).owner != owner


def test_background_loop_survives_a_failing_tick_and_stop_releases(
    db: Database, db2: Database, clock: FakeClock
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)

    sched = Scheduler(db, owner="a", clock=clock)
    sched.register("t", "hourly", slow)
    clock.advance(3600)
    clock.fail_next = 1  # the first tick raises; the loop logs it and goes on
    sched.start(interval=0.01)
    assert started.wait(5)
    assert sched.status()[0].running_owner == "a"
    sched.stop(timeout=0.05)  # the run is still going: its lease is released anyway
    r = row(db)
    assert (r.owner, r.lease_expires_at, r.last_status, r.failures) == (
        None,
        None,
        "interrupted",
        0,
    )
    assert r.last_error == "Stopped: a shut down"

    other = Scheduler(db2, owner="b", clock=clock)
    other.register("t", "hourly", lambda: None)
    assert other.tick() == ["t"]  # picked up at once, no lease to wait for
    release.set()  # the old run ends, finds its lease gone and records nothing
    for loop in [t for t in threading.enumerate() if t.name == "foresight-scheduler"]:
        loop.join(5)
        assert not loop.is_alive()
    with db.session() as s:
        assert s.scalars(select(ScheduledTaskRow.last_status)).all() == ["succeeded"]


def test_a_task_that_keeps_killing_its_process_backs_off(db: Database, clock: FakeClock) -> None:
    def die() -> None:
        raise Died

    owners = [Scheduler(db, owner=f"p{i}", clock=clock, lease_seconds=300) for i in range(4)]
    for s in owners:
        s.register("t", "hourly", die)
    clock.advance(3600)
    with pytest.raises(Died):
        owners[0].tick()
    clock.advance(301)
    with pytest.raises(Died):
        owners[1].tick()  # the first crash is retried at once
    clock.advance(301)
    owners[2].tick()  # recovers the second crash and waits out the backoff
    # Two crashes in a row: the next try waits like a failure would (60 s base).
    status = row(db)
    assert status.failures == 2 and status.last_status == "interrupted"
    assert status.next_run_at == clock.now + timedelta(seconds=60)
    clock.advance(61)
    with pytest.raises(Died):
        owners[3].tick()


# --- App tasks and the after_scheduled_run hook, through a Platform (the example app) ---


class TaskApp(TipsApp):
    """The example app with the tasks (and hook) a test gives it."""

    def __init__(self, tasks: Sequence[TaskSpec] = (), hook: Any = None, **settings: Any) -> None:
        super().__init__(TipsSettings(**settings))
        self._declared, self._hook = list(tasks), hook

    def tasks(self) -> list[TaskSpec]:
        return self._declared

    def models(self) -> list[ModelSpec]:
        specs = super().models()
        return specs if self._hook is None else [replace(specs[0], after_scheduled_run=self._hook)]


@pytest.fixture
def platforms(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Platform]]:
    """Platforms on one SQLite file with only the example app: processes of a cluster."""
    made: list[Platform] = []

    def make(app: TipsApp) -> Platform:
        settings = make_settings(tmp_path, apps=["tests.example_app"])
        made.append(Platform.create(settings, [app], clock=clock, migrate_db=not made))
        made[-1].scheduler  # noqa: B018 - registers the tasks now, before the clock moves
        return made[-1]

    yield make
    for p in reversed(made):
        p.close()


def announced(p: Platform, event: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.key, e.payload) for e in p.events.read(types=[event])]


def test_an_app_task_runs_once_under_the_lease(platforms, clock: FakeClock) -> None:
    calls: list[str] = []
    asked = [True]

    def sync(p: Platform) -> None:
        calls.append(p.scheduler.owner)
        assert other.scheduler.tick() == []  # the lease is taken: the other process waits
        with pytest.raises(Conflict):
            other.scheduler.run_now("tips:sync")

    spec = TaskSpec("sync", "Sync the feed", "every 5m", sync, due=lambda p: asked[0])
    first, other = platforms(TaskApp([spec])), platforms(TaskApp([spec]))
    assert {t.name: t.schedule for t in first.scheduler.status()}["tips:sync"] == "every 5m"
    assert first.scheduler.tick() == []  # not due yet
    clock.advance(300)
    assert first.scheduler.tick() == ["tips:sync"]
    assert other.scheduler.tick() == []  # the slot is spent
    assert calls == [first.scheduler.owner]
    asked[0] = False  # the app's due guard vetoes the next slot
    clock.advance(300)
    assert other.scheduler.tick() == [] and len(calls) == 1
    status = {t.name: t for t in other.scheduler.status()}["tips:sync"]
    assert (status.last_status, status.runs, status.next_run_at) == (
        "succeeded",
        1,
        clock.now + timedelta(minutes=5),
    )
    assert announced(first, "task.failed") == []


def test_a_failing_app_task_announces_task_failed(platforms, clock: FakeClock) -> None:
    def sync(p: Platform) -> None:
        raise ConnectionError("feed unreachable")

    p = platforms(TaskApp([TaskSpec("sync", "Sync the feed", "every 5m", sync)]))
    assert "task.failed" in p.known_events()
    clock.advance(300)
    assert p.scheduler.tick() == ["tips:sync"]
    clock.advance(60)  # the first retry, after the back-off
    assert p.scheduler.tick() == ["tips:sync"]
    payload = {"task": "tips:sync", "error": "ConnectionError: feed unreachable"}
    assert announced(p, "task.failed") == [
        ("tips:sync", {**payload, "failures": 1}),
        ("tips:sync", {**payload, "failures": 2}),
    ]
    assert announced(p, "model.training_failed") == []


def test_the_example_app_hook_runs_after_scheduled_trainings_only(
    platforms, clock: FakeClock, tmp_path: Path
) -> None:
    p = platforms(TaskApp(retrain_schedule="daily 03:00"))
    p.app("tips").load_demo(p, no_progress)
    env = {
        "FORESIGHT_DATA_DIR": str(p.settings.data_dir),
        "FORESIGHT_APPS": "tests.example_app",
    }
    r = CliRunner().invoke(cli, ["train", "tips"], env=env)
    assert r.exit_code == 0, r.output
    assert p.registry.production("tips") is not None
    assert announced(p, "tips.refreshed") == []  # ``foresight train`` is no scheduled run

    clock.now = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    assert "train:tips" in p.scheduler.tick()  # with retention and monitoring
    r = CliRunner().invoke(cli, ["schedule", "--run", "train:tips"], env=env)
    assert r.exit_code == 0, r.output
    refreshed = announced(p, "tips.refreshed")
    assert [payload["version"] for _, payload in refreshed] == ["tips:v2", "tips:v3"]


def test_a_hook_that_raises_leaves_the_run_succeeded(platforms, clock: FakeClock) -> None:
    def push(p: Platform, outcome: TrainingOutcome) -> None:
        raise RuntimeError(f"push of {outcome.version.label} refused")

    p = platforms(TaskApp(hook=push))
    p.app("tips").load_demo(p, no_progress)
    for _ in range(2):
        status = p.scheduler.run_now("train:tips")
        assert (status.last_status, status.failures, status.last_error) == ("succeeded", 0, None)
    assert p.registry.production("tips").label == "tips:v2"  # type: ignore[union-attr]
    error = "after_scheduled_run: RuntimeError: push of tips:v{} refused"
    assert announced(p, "task.failed") == [
        ("train:tips", {"task": "train:tips", "error": error.format(1), "failures": 1}),
        ("train:tips", {"task": "train:tips", "error": error.format(2), "failures": 2}),
    ]
    assert announced(p, "model.training_failed") == []
