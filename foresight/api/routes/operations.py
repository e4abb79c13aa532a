"""Scheduled tasks over HTTP: what runs when (readers), run one now (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from foresight.api.deps import Admin, PlatformDep, Reader
from foresight.platform.scheduler import TaskStatus

router = APIRouter(prefix="/api/v1/schedule", tags=["operations"])


@router.get("", response_model=list[TaskStatus])
def list_tasks(platform: PlatformDep, _: Reader) -> list[Any]:
    """Every scheduled task (retraining per model, retention) with its last and next run."""
    return platform.scheduler.status()


@router.post("/{task}/run", response_model=TaskStatus)
def run_task(
    platform: PlatformDep, admin: Admin, task: Annotated[str, Path(max_length=200)]
) -> Any:
    """Run a task now, in this request (e.g. ``train:<model>``); 409 if it is running."""
    platform.audit(actor=admin.name, action="schedule.run", target=task)
    return platform.scheduler.run_now(task)
