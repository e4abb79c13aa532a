"""Scheduled tasks, run by exactly one process across API replicas and workers.

Every task has one row in ``scheduled_tasks``. A process runs a due task only after it
took the row's lease with a single conditional ``UPDATE`` (checked by its row count), so
the database decides the race on SQLite and PostgreSQL alike. While the task runs, a
thread extends the lease every third of its length; a process that dies stops renewing,
and once its lease has expired the next tick anywhere records the run as
``interrupted`` and runs it again (it is still due: ``next_run_at`` only moves when a
run finishes).

Interruption rule: an interrupted run counts as a failure (``failures`` + 1, announced
through ``on_failure``), so a task that keeps killing its process backs off like one
that raises, yet its first retry is immediate because its lease expiry was the wait.
A lease released by :meth:`Scheduler.stop` (a deliberate shutdown) is marked
``interrupted`` too but is not counted: the task did nothing wrong.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Integer, String, Text, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict, NotFound
from foresight.platform.schedules import Schedule

log = structlog.get_logger(__name__)

ERROR_CHARS = 2000


class ScheduledTaskRow(Base):
    __tablename__ = "scheduled_tasks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # succeeded | failed | interrupted | running
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive
    runs: Mapped[int] = mapped_column(Integer, default=0)


_Row = ScheduledTaskRow  # short for the many column references below


@dataclass(frozen=True)
class TaskStatus:
    """One task as ``foresight schedule`` shows it; ``running_owner`` holds a live lease."""

    name: str
    schedule: str
    next_run_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    failures: int
    runs: int
    running_owner: str | None


@dataclass(frozen=True)
class _Task:
    name: str
    schedule: Schedule
    run: Callable[[], object]
    due: Callable[[datetime], bool] | None


def default_owner() -> str:
    """``hostname:pid:random``: unique per process, readable in ``foresight schedule``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


_RELEASE: dict[str, object] = {"owner": None, "lease_expires_at": None}


def _next(schedule: Schedule, now: datetime) -> datetime | None:
    return None if schedule.is_off else schedule.next_after(now)


class Scheduler:
    """Runs registered tasks when due, once across every process sharing ``db``."""

    def __init__(
        self,
        db: Database,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = 300,
        retry_base_seconds: float = 60,
        retry_max_seconds: float = 3600,
        on_failure: Callable[[str, str, int], None] | None = None,
        on_success: Callable[[str, object], None] | None = None,
    ) -> None:
        self.db = db
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self._clock = clock
        self._on_failure = on_failure
        self._on_success = on_success
        self._tasks: dict[str, _Task] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(
        self,
        name: str,
        schedule: Schedule | str,
        run: Callable[[], object],
        *,
        due: Callable[[datetime], bool] | None = None,
    ) -> None:
        """Add a task; its row is created once, and re-timed only if the schedule changed.

        ``due(now)`` is an extra guard asked when the time has come: if it says no, the
        task moves to its next slot without running (e.g. "only if new data arrived").
        """
        parsed = schedule if isinstance(schedule, Schedule) else Schedule.parse(schedule)
        now, text = self._clock(), str(parsed)
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        values = {"name": name, "schedule": text, "next_run_at": _next(parsed, now)}
        # Insert-or-ignore then update: replicas registering at once cannot collide.
        with self.db.engine.begin() as conn:
            conn.execute(insert(_Row).values(**values, failures=0, runs=0).on_conflict_do_nothing())
            conn.execute(
                update(_Row).where(_Row.name == name, _Row.schedule != text).values(**values)
            )
        self._tasks[name] = _Task(name, parsed, run, due)

    def tick(self) -> list[str]:
        """Run every registered task that is due and whose lease this process wins."""
        if not self._tasks:
            return []
        self._recover(list(self._tasks))
        with self.db.session() as s:
            due = s.scalars(
                select(_Row.name)
                .where(_Row.name.in_(list(self._tasks)), _Row.next_run_at <= self._clock())
                .order_by(_Row.next_run_at)
            ).all()
        ran = []
        for name in due:
            failures = self._claim(name, manual=False)
            if failures is not None and self._execute(self._tasks[name], failures, manual=False):
                ran.append(name)
        return ran

    def run_now(self, name: str) -> TaskStatus:
        """Run a task at once (a manual trigger): no ``due`` guard, same bookkeeping."""
        if name not in self._tasks:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise NotFound(f"no scheduled task {name!r} in this process (registered: {known})")
        self._recover([name])
        failures = self._claim(name, manual=True)
        if failures is None:
            raise Conflict(f"task {name!r} is running in another process; try again later")
        self._execute(self._tasks[name], failures, manual=True)
        return next(t for t in self.status() if t.name == name)

    def status(self) -> list[TaskStatus]:
        """Every task in the database (registered here or not), by name."""
        now = self._clock()
        with self.db.session() as s:
            rows = s.scalars(select(_Row).order_by(_Row.name)).all()
        copied = [f.name for f in fields(TaskStatus) if f.name != "running_owner"]
        return [
            TaskStatus(
                **{f: getattr(r, f) for f in copied},
                running_owner=r.owner if r.lease_expires_at and r.lease_expires_at >= now else None,
            )
            for r in rows
        ]

    def start(self, interval: float = 30.0) -> None:
        """Tick now and then every ``interval`` seconds on a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="foresight-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop ticking (waiting up to ``timeout`` for a run) and release this owner's leases."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        running, stopped = _Row.last_status == "running", f"Stopped: {self.owner} shut down"
        with self.db.engine.begin() as conn:
            conn.execute(
                update(_Row)
                .where(_Row.owner == self.owner)
                .values(
                    owner=None,
                    lease_expires_at=None,
                    last_status=case((running, "interrupted"), else_=_Row.last_status),
                    last_error=case((running, stopped), else_=_Row.last_error),
                )
            )

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler.tick_failed", owner=self.owner)
            self._stop.wait(interval)

    def _recover(self, names: list[str]) -> None:
        """Mark runs whose owner stopped renewing as interrupted (one process wins each)."""
        now = self._clock()
        stmt = (
            update(_Row)
            .where(_Row.name.in_(names), _Row.last_status == "running", _Row.lease_expires_at < now)
            .values(
                last_status="interrupted",
                last_error="Interrupted: lease of " + func.coalesce(_Row.owner, "?") + " expired",
                failures=_Row.failures + 1,
            )
            .returning(_Row.name, _Row.last_error, _Row.failures)
        )
        with self.db.engine.begin() as conn:
            recovered = conn.execute(stmt).all()
        for name, error, failures in recovered:
            log.warning("scheduler.interrupted", task=name, error=error, failures=failures)
            if failures > 1:
                # A task that keeps killing its process backs off like any failure; a
                # single crash is retried at once.
                delay = min(self.retry_base_seconds * 2 ** (failures - 2), self.retry_max_seconds)
                with self.db.engine.begin() as conn:
                    conn.execute(
                        update(_Row)
                        .where(_Row.name == name)
                        .values(next_run_at=now + timedelta(seconds=delay))
                    )
            _notify(self._on_failure, name, str(error), failures)

    def _claim(self, name: str, *, manual: bool) -> int | None:
        """Take the lease atomically; the task's failure count if won, else None."""
        now = self._clock()
        conditions = [
            _Row.name == name,
            or_(_Row.lease_expires_at.is_(None), _Row.lease_expires_at < now),
        ]
        if not manual:
            conditions.append(_Row.next_run_at <= now)
        stmt = (
            update(_Row)
            .where(*conditions)
            .values(owner=self.owner, lease_expires_at=now + self._lease)
            .returning(_Row.failures)
        )
        with self.db.engine.begin() as conn:
            won = conn.execute(stmt).first()
        return None if won is None else int(won[0])

    def _execute(self, task: _Task, failures: int, *, manual: bool) -> bool:
        """Run a task whose lease we hold and record the outcome; False if ``due`` said no."""
        now = self._clock()
        try:
            if not manual and task.due is not None and not task.due(now):
                self._update_own(task.name, next_run_at=_next(task.schedule, now), **_RELEASE)
                log.info("scheduler.skipped", task=task.name, reason="due guard said no")
                return False
        except Exception as exc:
            self._record_failure(task, exc, failures)
            return False
        self._update_own(task.name, last_status="running", last_started_at=now, runs=_Row.runs + 1)
        log.info("scheduler.started", task=task.name, owner=self.owner)
        try:
            with self._renewing(task.name):
                result = task.run()
        except Exception as exc:
            self._record_failure(task, exc, failures)
            return True
        finished = self._clock()
        self._update_own(
            task.name,
            last_status="succeeded",
            last_finished_at=finished,
            last_error=None,
            failures=0,
            next_run_at=_next(task.schedule, finished),
            **_RELEASE,
        )
        log.info("scheduler.succeeded", task=task.name, seconds=(finished - now).total_seconds())
        _notify(self._on_success, task.name, result)
        return True

    def _record_failure(self, task: _Task, exc: Exception, failures: int) -> None:
        failures += 1
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        finished = self._clock()
        delay = min(self.retry_base_seconds * 2 ** (failures - 1), self.retry_max_seconds)
        retry_at = None if task.schedule.is_off else finished + timedelta(seconds=delay)
        self._update_own(
            task.name,
            last_status="failed",
            last_finished_at=finished,
            last_error=error,
            failures=failures,
            next_run_at=retry_at,
            **_RELEASE,
        )
        log.warning("scheduler.failed", task=task.name, error=error, failures=failures)
        _notify(self._on_failure, task.name, error, failures)

    def _update_own(self, name: str, **values: object) -> bool:
        """Write to the row only while this process still holds its lease."""
        with self.db.engine.begin() as conn:
            result = conn.execute(
                update(_Row).where(_Row.name == name, _Row.owner == self.owner).values(**values)
            )
        if result.rowcount != 1:
            log.warning("scheduler.lease_lost", task=name, owner=self.owner)
        return bool(result.rowcount == 1)

    @contextmanager
    def _renewing(self, name: str) -> Iterator[None]:
        """Extend the lease every third of its length while the body runs."""
        done = threading.Event()
        thread = threading.Thread(
            target=self._renew, args=(name, done), name=f"lease-{name}", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _renew(self, name: str, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            try:
                if not self._update_own(name, lease_expires_at=self._clock() + self._lease):
                    return  # another process recovered the task; nothing left to keep
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("scheduler.renew_failed", task=name)


def _notify(callback: Callable[..., None] | None, name: str, *args: object) -> None:
    """Call an ``on_success``/``on_failure`` hook; a broken hook never breaks the scheduler."""
    if callback is not None:
        try:
            callback(name, *args)
        except Exception:
            log.exception("scheduler.callback_failed", task=name)
