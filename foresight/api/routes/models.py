"""The model registry over HTTP: list and inspect (readers), promote and roll back (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from foresight.api.deps import Admin, PlatformDep, Reader
from foresight.platform.errors import ModelNotFound
from foresight.platform.registry import ModelVersion
from foresight.platform.runtime import Platform

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class Headline(BaseModel):
    key: str
    label: str
    value: float | None
    higher_is_better: bool


class VersionOut(BaseModel):
    model: str
    app: str | None
    version: int
    label: str
    stage: str
    algorithm: str
    metrics: dict[str, Any]
    data_fingerprint: str
    created_at: datetime
    promoted_at: datetime | None
    headline: list[Headline]


class ModelInfo(VersionOut):
    params: dict[str, Any]
    signature: dict[str, Any]
    run_id: int | None
    gates: list[dict[str, Any]]


def _out(platform: Platform, mv: ModelVersion) -> dict[str, Any]:
    owner = next(((a, m) for a, m in platform.model_specs() if m.name == mv.name), None)
    headline = owner[1].headline if owner else ()
    return {
        "model": mv.name,
        "app": owner[0].name if owner else None,
        "headline": [
            {
                "key": h.key,
                "label": h.label,
                "value": mv.metrics.get(h.key),
                "higher_is_better": h.higher_is_better,
            }
            for h in headline
        ],
        "version": mv.version,
        "label": mv.label,
        "stage": mv.stage,
        "algorithm": mv.algorithm,
        "metrics": mv.metrics,
        "data_fingerprint": mv.data_fingerprint,
        "created_at": mv.created_at,
        "promoted_at": mv.promoted_at,
    }


ModelName = Annotated[str, Path(max_length=100)]
CONFLICT = {409: {"description": "There is no previous production version to go back to."}}


@router.get("", response_model=list[VersionOut])
def list_models(
    platform: PlatformDep, _: Reader, name: Annotated[str | None, Query(max_length=100)] = None
) -> list[dict[str, Any]]:
    """Every registered model version, newest first."""
    return [_out(platform, mv) for mv in platform.registry.versions(name)]


@router.get("/{model_id}/info", response_model=ModelInfo)
def read_model_info(
    platform: PlatformDep,
    _: Reader,
    model_id: ModelName,
    version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> dict[str, Any]:
    """One model: the production version (or ``?version=N``) with params, signature and gates."""
    if version is None:
        mv = platform.registry.production(model_id)
        if mv is None:
            versions = platform.registry.versions(model_id)
            if not versions:
                raise ModelNotFound(f"no model named {model_id!r}")
            mv = versions[0]
    else:
        mv = platform.registry.get(model_id, version)
    return {
        **_out(platform, mv),
        "params": mv.params,
        "signature": mv.signature,
        "run_id": mv.run_id,
        "gates": platform.registry.gates(model_id),
    }


@router.post("/{model_id}/promote", response_model=VersionOut)
def promote_model(
    platform: PlatformDep,
    admin: Admin,
    model_id: ModelName,
    version: Annotated[int, Query(ge=1, le=2**31)],
) -> dict[str, Any]:
    """Make a version production (skipping the gate: an admin's explicit decision)."""
    return _out(platform, platform.promote(model_id, version, actor=admin.name))


@router.post("/{model_id}/rollback", response_model=VersionOut, responses=CONFLICT)
def rollback_model(platform: PlatformDep, admin: Admin, model_id: ModelName) -> dict[str, Any]:
    """Bring back the previous production version."""
    return _out(platform, platform.rollback(model_id, actor=admin.name))
