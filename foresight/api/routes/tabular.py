"""Predictions from any model fitted by the tabular learner (``foresight tabular fit``).

``POST /api/v1/models/{model_id}/predict`` answers one record or a list with the
model's production version, through the serving layer (loaded once per version,
hot-swapped on promotion; the training rows' answer when no version can be loaded).
Records are validated strictly against the version's signature: any invalid record
makes the request a 422 naming each record and field, and none is predicted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from foresight.api.bodies import parse_body
from foresight.api.deps import Predictor
from foresight.platform.errors import Conflict, InvalidInput, ModelNotFound, NoModelAvailable
from foresight.platform.registry import ModelRegistry
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.tabular.spec import PriorModel, is_tabular

router = APIRouter(prefix="/api/v1/models", tags=["models"])

MAX_RECORDS = 1000
# A single record is answered on the event loop (a fast path of ~100 µs); a list goes
# to a worker thread so that a thousand explained records do not stall other requests.
INLINE_RECORDS = 1
_CELL_TYPES = (str, int, float, bool, type(None))
_CELL_SCHEMA = {"type": ["string", "number", "boolean", "null"]}


def _cells(record: dict[str, Any]) -> dict[str, Any]:
    for key, value in record.items():
        if not isinstance(value, _CELL_TYPES):
            raise ValueError(f"{key}: a value is a string, number, boolean or null")
    return record


Record = Annotated[
    dict[str, Any],
    AfterValidator(_cells),
    WithJsonSchema({"type": "object", "additionalProperties": _CELL_SCHEMA}),
]


class TabularPredictRequest(BaseModel):
    """One record (``record``) or a list of them (``records``), by column name."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What the validator below enforces, said where clients read it.
            "oneOf": [
                {"required": ["record"], "properties": {"record": {"type": "object"}}},
                {"required": ["records"], "properties": {"records": {"type": "array"}}},
            ],
            "examples": [
                {
                    "record": {
                        "island": "Biscoe",
                        "bill_length_mm": 45.2,
                        "bill_depth_mm": 14.8,
                        "flipper_length_mm": 212,
                        "body_mass_g": 5200,
                        "sex": "female",
                    },
                    "explain": True,
                }
            ],
        },
    )

    record: Record | None = Field(None, description="One record: the model's columns by name.")
    records: list[Record] | None = Field(
        None,
        min_length=1,
        max_length=MAX_RECORDS,
        description=f"Up to {MAX_RECORDS:,} records; answered in the same order.",
    )
    explain: bool = Field(
        False, strict=True, description="Add each answer's largest factors (additive)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> TabularPredictRequest:
        if (self.record is None) == (self.records is None):
            raise ValueError("give either record (one) or records (a list), not both")
        return self


class Factor(BaseModel):
    feature: str
    value: Any = Field(description="The record's value (null when missing).")
    contribution: float = Field(
        description="What this value adds to the answer: probability points (binary), "
        "log-odds of the predicted class (multiclass) or target units (regression)."
    )


class RecordWarning(BaseModel):
    """A value of the right type outside what training saw: predicted, but trust it less."""

    field: str
    message: str
    value: Any = Field(description="The value as sent.")


class TabularPrediction(BaseModel):
    prediction: str | float | None = Field(description="The class, or the number.")
    probabilities: dict[str, float] | None = Field(
        None, description="Classification: the calibrated probability of each class."
    )
    lower: float | None = Field(None, description="Regression: the interval's lower bound.")
    upper: float | None = Field(None, description="Regression: the interval's upper bound.")
    factors: list[Factor] | None = Field(None, description="With explain: the largest factors.")
    warnings: list[RecordWarning] = Field(default_factory=list)


class TabularPredictResponse(BaseModel):
    model: str
    version: int
    model_version: str = Field(description='The version that answered, e.g. "penguins:v3".')
    fallback: str | None = Field(description="None when production answered, else the level.")
    predictions: list[TabularPrediction] = Field(description="One per record, in order.")


ModelName = Annotated[str, Path(max_length=100, description="A model from `tabular fit`.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No model has that name."},
    409: {"description": "The model is not a tabular model, or has no production version."},
}


@router.post(
    "/{model_id}/predict",
    response_model=TabularPredictResponse,
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TabularPredictRequest.model_json_schema()}},
        }
    },
)
async def predict_tabular(request: Request, model_id: ModelName, _: Predictor) -> Response:
    """Predict one record or up to 1,000 with a model fitted by `foresight tabular fit`."""
    # Read here rather than by FastAPI's body machinery: one pydantic-core pass, after
    # the key is checked (a caller without a key gets a 401, not a 422).
    body = parse_body(TabularPredictRequest, await request.body())
    platform: Platform = request.app.state.platform
    served = _served(request, platform, model_id)
    records = [body.record] if body.record is not None else list(body.records or [])
    if len(records) <= INLINE_RECORDS:
        answers = _predict(served, records, explain=body.explain, many=body.records is not None)
    else:
        answers = await run_in_threadpool(
            _predict, served, records, explain=body.explain, many=True
        )
    assert served.version is not None  # a tabular answer always names its version
    metrics = platform.metrics
    fallback = served.fallback or "none"
    metrics.child(metrics.predictions, model_id, served.label, fallback).inc(len(records))
    platform.monitor.record_inputs(model_id, served.label, records)
    answer = {
        "model": model_id,
        "version": served.version.version,
        "model_version": served.label,
        "fallback": served.fallback,
        "predictions": answers,
    }
    return Response(json.dumps(answer), media_type="application/json")


class _KnownNames:
    """Model names in the registry, re-read at most once per ``ttl`` on a miss.

    An unknown name then costs no query per request, and never reaches the serving
    layer, which keeps a pointer per name it is asked for.
    """

    def __init__(
        self, registry: ModelRegistry, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry, self.ttl, self.clock = registry, ttl, clock
        self.names: frozenset[str] = frozenset()
        self.read_at = -float("inf")

    def __contains__(self, name: object) -> bool:
        if name in self.names:
            return True
        if self.clock() - self.read_at >= self.ttl:
            self.read_at = self.clock()
            self.names = frozenset(self.registry.names())
        return name in self.names


def _served(request: Request, platform: Platform, name: str) -> Served:
    """The tabular model answering for ``name``; 404 unknown, 409 not tabular or staged."""
    state = request.app.state
    known = getattr(state, "tabular_names", None)
    if known is None:
        # As stale as the serving layer's production pointers may be, no more.
        ttl = platform.settings.production_pointer_ttl
        known = state.tabular_names = _KnownNames(platform.registry, ttl)
    if name not in known:
        raise ModelNotFound(
            f"no model named {name!r}; fit one with "
            f"`foresight tabular fit FILE.csv --target COLUMN --name {name}`"
        )
    try:
        served = platform.server.resolve(name, rule=PriorModel.of)
    except NoModelAvailable:
        raise Conflict(
            f"model {name!r} has no production version; promote one with "
            f"`foresight models promote {name} VERSION`"
        ) from None
    if served.version is None or not is_tabular(served.version):
        algorithm = served.version.algorithm if served.version else "unknown"
        raise Conflict(
            f"model {name!r} is a {algorithm} model, not a tabular one: its app answers for "
            "it; this route serves models fitted by `foresight tabular fit`"
        )
    return served


def _predict(
    served: Served, records: list[dict[str, Any]], *, explain: bool, many: bool
) -> list[dict[str, Any]]:
    """Every record's answer, or one 422 naming each invalid record and field."""
    model = served.model
    classes = list(model.classes)
    answers: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    bad = 0
    for i, record in enumerate(records):
        try:
            out = model.predict_record(record, explain=explain)
        except InvalidInput as exc:
            bad += 1
            where = f"records.{i}" if many else "record"
            for e in exc.details or [{"field": "", "message": exc.message}]:
                error = {"field": f"{where}.{e['field']}".rstrip("."), "message": e["message"]}
                errors.append(error | ({"row": i + 1} if many else {}))
            continue
        answers.append(_shaped(out, classes))
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        what = f"{bad} of {len(records)} records are invalid" if many else "the record is invalid"
        raise InvalidInput(f"{what}: {summary}", details=errors)
    return answers


def _shaped(out: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """A model's flat answer (``proba_<class>`` …) in the response's shape."""
    answer: dict[str, Any] = {"prediction": out["prediction"]}
    if classes:
        answer["probabilities"] = {c: out[f"proba_{c}"] for c in classes}
    else:
        answer["lower"], answer["upper"] = out.get("lower"), out.get("upper")
    if "factors" in out:
        answer["factors"] = out["factors"]
    answer["warnings"] = out.get("warnings", [])
    return answer
