"""Scheduled operations: every app model's retraining on its declared schedule, every
app's own tasks (``App.tasks``), model monitoring and the retention purge. Registered on
the platform's :class:`Scheduler`, so one process in the cluster runs each (see
``foresight schedule``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from foresight.platform.errors import ForesightError
from foresight.platform.scheduler import ERROR_CHARS, Scheduler
from foresight.platform.stream_runner import trim_streams
from foresight.platform.training import no_progress

if TYPE_CHECKING:
    from foresight.platform.apps import App, ModelSpec, TaskSpec
    from foresight.platform.runtime import Platform

log = structlog.get_logger(__name__)

RETENTION_TASK = "retention"
RETENTION_SCHEDULE = "daily 02:30"
MONITOR_TASK = "monitor"


def training_task(model: str) -> str:
    """The scheduled task that retrains ``model``."""
    return f"train:{model}"


def app_task(app: App, spec: TaskSpec) -> str:
    """The scheduled task that runs an app's own ``spec``."""
    return f"{app.name}:{spec.name}"


def build_scheduler(platform: Platform) -> Scheduler:
    """A scheduler with every model's retraining, every app task, monitoring and the
    retention purge registered."""
    app_tasks: set[str] = set()

    def on_failure(name: str, error: str, failures: int) -> None:
        if name.startswith("train:"):
            platform.announce(
                "model.training_failed",
                {"model": name.removeprefix("train:"), "error": error, "failures": failures},
            )
        elif name in app_tasks:
            platform.announce(
                "task.failed", {"task": name, "error": error, "failures": failures}, key=name
            )

    scheduler = Scheduler(platform.db, clock=platform.clock, on_failure=on_failure)
    for _, spec in platform.model_specs():
        scheduler.register(
            training_task(spec.name),
            spec.schedule,
            _train(platform, spec),
            due=_due(platform, spec.due),
        )
    for app in platform.apps:
        for task in app.tasks():
            name = app_task(app, task)
            scheduler.register(
                name, task.schedule, _run(platform, task), due=_due(platform, task.due)
            )
            app_tasks.add(name)
    scheduler.register(RETENTION_TASK, RETENTION_SCHEDULE, lambda: purge(platform))
    scheduler.register(
        MONITOR_TASK, platform.settings.monitor_schedule, lambda: check_models(platform)
    )
    return scheduler


def check_models(platform: Platform) -> dict[str, bool]:
    """Check drift and accuracy of every model; retrain those that drifted and opted in,
    at most once per ``FORESIGHT_DRIFT_RETRAIN_COOLDOWN_DAYS`` (drift measured against a
    table that has not changed would otherwise retrain the same data every hour).

    Returns whether each model drifted. One model's failure does not stop the others.
    """
    drifted: dict[str, bool] = {}
    cooldown = timedelta(days=platform.settings.drift_retrain_cooldown_days)
    for _, spec in platform.model_specs():
        try:
            report = platform.monitor.check(spec.name, task=spec.task)
            drifted[spec.name] = report["drifted"]
            if not (report["drifted"] and spec.retrain_on_drift):
                continue
            last = platform.monitor.last_retrained(spec.name)
            if last is not None and platform.clock() - last < cooldown:
                continue
            log.info("drift_retraining", model=spec.name)
            platform.monitor.mark_retrained(spec.name)
            platform.scheduler.run_now(training_task(spec.name))
        except ForesightError as exc:  # e.g. its training runs elsewhere (Conflict)
            log.warning("monitor_check_failed", model=spec.name, error=exc.message)
    return drifted


def _train(platform: Platform, spec: ModelSpec) -> Callable[[], object]:
    name = training_task(spec.name)
    hook_failures = 0  # consecutive, in this process: the scheduler counts only training

    def run() -> object:
        nonlocal hook_failures
        outcome = spec.train(platform, no_progress)
        if spec.after_scheduled_run is not None:
            try:
                spec.after_scheduled_run(platform, outcome)
                hook_failures = 0
            except Exception as exc:
                # The new version is registered (and maybe promoted) whatever the hook
                # did: the run stands, and the failure is told, not hidden.
                hook_failures += 1
                error = f"after_scheduled_run: {type(exc).__name__}: {exc}"[:ERROR_CHARS]
                log.exception("after_scheduled_run_failed", task=name, model=spec.name)
                platform.announce(
                    "task.failed",
                    {"task": name, "error": error, "failures": hook_failures},
                    key=name,
                )
        return {"version": outcome.version.label, "promoted": outcome.promoted}

    return run


def _run(platform: Platform, task: TaskSpec) -> Callable[[], object]:
    run = task.run
    return lambda: run(platform)


def _due(
    platform: Platform, check: Callable[[Platform], bool] | None
) -> Callable[[datetime], bool] | None:
    if check is None:
        return None
    return lambda now: check(platform)


def purge(platform: Platform, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than ``FORESIGHT_RETENTION_DAYS`` per table kind (0 keeps);
    events of a type an app keeps (``App.kept_events``) stay whatever their age."""
    now = now or platform.clock()
    days = platform.settings.retention_days
    removed: dict[str, int] = {}

    def before(kind: str) -> datetime | None:
        keep = days.get(kind, 0)
        return now - timedelta(days=keep) if keep > 0 else None

    if (cut := before("predictions")) is not None:
        removed["predictions"] = sum(app.purge_predictions(platform, cut) for app in platform.apps)
    if (cut := before("monitoring")) is not None:
        removed["monitoring"] = platform.monitor.purge(cut)
    if (cut := before("events")) is not None:
        kept = {kind for app in platform.apps for kind in app.kept_events}
        removed["events"] = platform.events.purge(cut, keep_types=sorted(kept))
    if (cut := before("jobs")) is not None:
        removed["jobs"] = platform.jobs.purge(cut)
    if (cut := before("audit")) is not None:
        removed["audit"] = platform.audit_log.purge(cut)
    if (cut := before("streams")) is not None and platform.consumer_specs():
        removed["streams"] = trim_streams(platform, cut)
    log.info("retention_purge", **removed)
    return removed
