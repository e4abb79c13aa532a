"""Outcomes posted back, one route shape for every app, and model monitoring reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from foresight.api.deps import PlatformDep, Reader, Writer
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.schemas import OutcomesAccepted, OutcomesIn

router = APIRouter(tags=["monitoring"])

AppName = Annotated[str, Path(max_length=50, description="An installed app, e.g. from /health")]
ModelName = Annotated[str, Path(max_length=100)]


class MonitorReport(BaseModel):
    model: str
    model_version: str | None
    checked_at: str
    drifted: bool
    drift: dict[str, Any] | None = Field(
        description="Per-feature tests of recent inputs against the training reference."
    )
    accuracy: dict[str, float] = Field(description="Metrics on the outcomes posted back.")
    notes: list[str] = Field(default=[], description="Why a part could not be checked.")


@router.post("/api/v1/{app_name}/outcomes", response_model=OutcomesAccepted)
def create_outcomes(
    app_name: AppName, body: OutcomesIn, platform: PlatformDep, _: Writer
) -> dict[str, int]:
    """Post what really happened; each item is matched with the prediction it judges."""
    app = platform.app(app_name)
    outcomes = []
    for i, item in enumerate(body.outcomes):
        try:
            outcomes.append(app.resolve_outcome(platform, item))
        except InvalidInput as exc:  # all or nothing: name the item, store none
            raise InvalidInput(
                f"outcome {i + 1}: {exc.message}",
                details=[{"field": f"outcomes.{i}", "message": exc.message}],
            ) from None
    accepted, duplicates = platform.monitor.add_outcomes(app.name, outcomes)
    return {"accepted": accepted, "duplicates": duplicates}


@router.get("/api/v1/models/{model_id}/monitor", response_model=MonitorReport)
def read_monitor_report(model_id: ModelName, platform: PlatformDep, _: Reader) -> Any:
    """The latest drift and accuracy check of a model (checked hourly by default)."""
    platform.model_spec(model_id)
    report = platform.monitor.latest(model_id)
    if report is None:
        raise NotFound(f"{model_id} has not been checked yet; POST to this URL to check now")
    return report


@router.post("/api/v1/models/{model_id}/monitor", response_model=MonitorReport)
def check_model(model_id: ModelName, platform: PlatformDep, _: Writer) -> Any:
    """Check drift and accuracy now (announces ``drift.detected`` on a new drift)."""
    spec = platform.model_spec(model_id)
    return platform.monitor.check(model_id, task=spec.task)
