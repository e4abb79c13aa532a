"""The model registry over HTTP: list and inspect (readers), promote and roll back (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from foresight.api.deps import Admin, PlatformDep, Reader
from foresight.platform.errors import ModelNotFound
from foresight.platform.registry import ModelVersion

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class VersionOut(BaseModel):
    model: str
    version: int
    label: str
    stage: str
    algorithm: str
    metrics: dict[str, Any]
    data_fingerprint: str
    created_at: datetime
    promoted_at: datetime | None


class ModelInfo(VersionOut):
    params: dict[str, Any]
    signature: dict[str, Any]
    run_id: int | None
    gates: list[dict[str, Any]]


def _out(mv: ModelVersion) -> dict[str, Any]:
    return {
        "model": mv.name,
        "version": mv.version,
        "label": mv.label,
        "stage": mv.stage,
        "algorithm": mv.algorithm,
        "metrics": mv.metrics,
        "data_fingerprint": mv.data_fingerprint,
        "created_at": mv.created_at,
        "promoted_at": mv.promoted_at,
    }


@router.get("", response_model=list[VersionOut])
def list_models(platform: PlatformDep, _: Reader, name: str | None = None) -> list[dict[str, Any]]:
    """Every registered model version, newest first."""
    return [_out(mv) for mv in platform.registry.versions(name)]


@router.get("/{model_id}/info", response_model=ModelInfo)
def read_model_info(
    platform: PlatformDep, _: Reader, model_id: str, version: int | None = None
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
        **_out(mv),
        "params": mv.params,
        "signature": mv.signature,
        "run_id": mv.run_id,
        "gates": platform.registry.gates(model_id),
    }


@router.post("/{model_id}/promote", response_model=VersionOut)
def promote_model(
    platform: PlatformDep, admin: Admin, model_id: str, version: int
) -> dict[str, Any]:
    """Make a version production (skipping the gate: an admin's explicit decision)."""
    return _out(platform.promote(model_id, version, actor=admin.name))


@router.post("/{model_id}/rollback", response_model=VersionOut)
def rollback_model(platform: PlatformDep, admin: Admin, model_id: str) -> dict[str, Any]:
    """Bring back the previous production version."""
    return _out(platform.rollback(model_id, actor=admin.name))
