"""Health probes and Prometheus metrics (no key needed; expose them on an internal port)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from foresight import __version__
from foresight.api.deps import PlatformDep
from foresight.platform.monitoring import PROMETHEUS_CONTENT_TYPE

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    timestamp: datetime
    components: dict[str, Any]


@router.get("/live", response_model=dict[str, str])
def live() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "alive"}


@router.get("/ready", response_model=dict[str, Any])
def ready(platform: PlatformDep, response: Response) -> dict[str, Any]:
    """Readiness: the database answers (503 otherwise)."""
    ok = platform.db.ping()
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not ready", "database": ok}


@router.get("/health", response_model=Health)
def health(platform: PlatformDep) -> Health:
    """Overall health: database, cache, and a production version of every app's models."""
    components: dict[str, Any] = {
        "database": {"ok": platform.db.ping(), "backend": platform.db.engine.dialect.name}
    }
    if platform.redis is not None:
        try:
            components["redis"] = {"ok": bool(platform.redis.ping())}
        except Exception as exc:
            components["redis"] = {"ok": False, "error": type(exc).__name__}
    for app, spec in platform.model_specs():
        mv = platform.registry.production(spec.name)
        components[f"model:{spec.name}"] = {
            "ok": mv is not None,
            "app": app.name,
            "version": mv.label if mv else None,
        }
    core_ok = all(c["ok"] for k, c in components.items() if not k.startswith("model:"))
    models_ok = all(c["ok"] for k, c in components.items() if k.startswith("model:"))
    status = "healthy" if core_ok and models_ok else "degraded" if core_ok else "unhealthy"
    return Health(
        status=status, version=__version__, timestamp=datetime.now(UTC), components=components
    )


@router.get("/metrics", response_class=Response)
def metrics(platform: PlatformDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(platform.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
