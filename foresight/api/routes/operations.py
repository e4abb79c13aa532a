"""Scheduled tasks over HTTP: what runs when (readers), run one now (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from foresight.api.deps import Admin, PlatformDep, Reader

router = APIRouter(prefix="/api/v1/schedule", tags=["operations"])


class Task(BaseModel):
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


@router.get("", response_model=list[Task])
def list_tasks(platform: PlatformDep, _: Reader) -> list[Any]:
    """Every scheduled task (retraining per model, retention) with its last and next run."""
    return [vars(t) for t in platform.scheduler.status()]


@router.post("/{task}/run", response_model=Task)
def run_task(
    platform: PlatformDep, admin: Admin, task: Annotated[str, Path(max_length=200)]
) -> Any:
    """Run a task now, in this request (e.g. ``train:<model>``); 409 if it is running."""
    platform.audit(actor=admin.name, action="schedule.run", target=task)
    return vars(platform.scheduler.run_now(task))
