"""HTTP bodies every app shares (imports, accepted jobs, per-row errors)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)


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


MAX_JSON_INT = 2**53 - 1
"""The largest integer every JSON reader holds exactly (JavaScript's MAX_SAFE_INTEGER): the
bound for ids and offsets, which stay far below it."""

MAX_LISTED_ERRORS = 50
"""Field errors one error answer lists; ``error_count`` says how many there were in all."""


class FieldError(BaseModel):
    """One thing to fix in a request: where, and what is wrong there."""

    field: str = Field(description='Dotted path (e.g. "outcomes.0.observed"), or "body".')
    message: str
    row: int | None = Field(None, description="1-based row, when the error is in a list or file.")


class ErrorResponse(BaseModel):
    """Every error answer (4xx, 5xx): ``detail`` says what to fix; ``errors`` names fields."""

    detail: str
    errors: list[FieldError] | None = Field(
        None, description=f"The field errors, at most {MAX_LISTED_ERRORS}."
    )
    error_count: int | None = Field(
        None, description="How many field errors there were in all, when more than listed."
    )


def job_accepted(job_id: str, status: str) -> JobAccepted:
    """The 202 answer for a submitted job, pointing at the platform's job routes."""
    return JobAccepted(
        job_id=job_id,
        status=status,
        status_url=f"/api/v1/jobs/{job_id}",
        results_url=f"/api/v1/jobs/{job_id}/results",
    )


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_only(value: Any) -> Any:
    # pydantic reads a number (or a numeric string) as a Unix time; a date-time field
    # that says "ISO 8601" must not accept 0.5 as 1970-01-01T00:00:00.5.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-01-31T09:30:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A date-time given as ISO 8601 text (not a number of seconds)."""


def _one_of_required(*names: str, types: dict[str, str]) -> dict[str, Any]:
    """JSON Schema saying at least one of ``names`` is given (and not null)."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"type": types[name]}}} for name in names
        ]
    }


# The same limit the validator below checks, in the document (one clear message, not a
# message per member of the union).
_OBSERVED = {
    "anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string", "maxLength": 100}]
}


class OutcomeIn(BaseModel):
    """What really happened to one prediction: name it by id or by entity (and time)."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra=_one_of_required(
            "prediction_id", "entity", types={"prediction_id": "integer", "entity": "string"}
        ),
    )

    prediction_id: int | None = Field(None, ge=1, le=MAX_JSON_INT)
    entity: str | None = Field(None, min_length=1, max_length=200, description="e.g. a customer")
    observed: Annotated[float | bool | str, WithJsonSchema(_OBSERVED)] = Field(
        description="The value that came true."
    )
    observed_at: IsoDateTime | None = Field(None, description="When; default now.")
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
