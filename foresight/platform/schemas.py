"""HTTP bodies every app shares (imports, accepted jobs, per-row errors)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ImportResponse(BaseModel):
    rows: int = Field(description="Rows accepted.")
    message: str
    duplicate: bool = Field(
        False, description="True when this request repeated an earlier one and changed nothing."
    )


class JobAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str = Field(description="GET it for status, progress and the first errors.")
    results_url: str = Field(description="GET it for paged results once the job is done.")


class RowError(BaseModel):
    row: int = Field(description="1-based row number in the submitted list or file.")
    field: str
    message: str


def job_accepted(job_id: str, status: str) -> JobAccepted:
    """The 202 answer for a submitted job, pointing at the platform's job routes."""
    return JobAccepted(
        job_id=job_id,
        status=status,
        status_url=f"/api/v1/jobs/{job_id}",
        results_url=f"/api/v1/jobs/{job_id}/results",
    )


class OutcomeIn(BaseModel):
    """What really happened to one prediction: name it by id or by entity (and time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prediction_id: int | None = Field(None, ge=1, le=2**62)
    entity: str | None = Field(None, min_length=1, max_length=200, description="e.g. a customer")
    observed: float | bool | str = Field(description="The value that came true.")
    observed_at: datetime | None = Field(None, description="When; default now.")
    model: str | None = Field(None, max_length=100, description="Which of the app's models.")

    @model_validator(mode="after")
    def _names_a_prediction(self) -> OutcomeIn:
        if self.prediction_id is None and self.entity is None:
            raise ValueError("give a prediction_id or an entity")
        if isinstance(self.observed, str) and len(self.observed) > 100:
            raise ValueError("observed is at most 100 characters")
        return self


class OutcomesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=10_000)


class OutcomesAccepted(BaseModel):
    accepted: int = Field(description="Outcomes stored.")
    duplicates: int = Field(description="Outcomes already posted for the same prediction.")
