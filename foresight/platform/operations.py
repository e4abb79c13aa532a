"""Scheduled operations: every app model's retraining on its declared schedule, and the
retention purge. Registered on the platform's :class:`Scheduler`, so one process in the
cluster runs each (see ``foresight schedule``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from foresight.platform.errors import ForesightError
from foresight.platform.scheduler import Scheduler
from foresight.platform.training import no_progress

if TYPE_CHECKING:
    from foresight.platform.apps import ModelSpec
    from foresight.platform.runtime import Platform

log = structlog.get_logger(__name__)

RETENTION_TASK = "retention"
RETENTION_SCHEDULE = "daily 02:30"
MONITOR_TASK = "monitor"


def training_task(model: str) -> str:
    """The scheduled task that retrains ``model``."""
    return f"train:{model}"


def build_scheduler(platform: Platform) -> Scheduler:
    """A scheduler with every model's retraining and the retention purge registered."""

    def on_failure(name: str, error: str, failures: int) -> None:
        if name.startswith("train:"):
            platform.announce(
                "model.training_failed",
                {"model": name.removeprefix("train:"), "error": error, "failures": failures},
            )

    scheduler = Scheduler(platform.db, clock=platform.clock, on_failure=on_failure)
    for _, spec in platform.model_specs():
        scheduler.register(
            training_task(spec.name),
            spec.schedule,
            _train(platform, spec),
            due=_due(platform, spec),
        )
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
    def run() -> object:
        outcome = spec.train(platform, no_progress)
        return {"version": outcome.version.label, "promoted": outcome.promoted}

    return run


def _due(platform: Platform, spec: ModelSpec) -> Callable[[datetime], bool] | None:
    if spec.due is None:
        return None
    check = spec.due
    return lambda now: check(platform)


def purge(platform: Platform, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than ``FORESIGHT_RETENTION_DAYS`` per table kind (0 keeps)."""
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
        removed["events"] = platform.events.purge(cut)
    if (cut := before("jobs")) is not None:
        removed["jobs"] = platform.jobs.purge(cut)
    if (cut := before("audit")) is not None:
        removed["audit"] = platform.audit_log.purge(cut)
    log.info("retention_purge", **removed)
    return removed
