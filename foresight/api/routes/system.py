"""Health probes and Prometheus metrics (no key needed; expose them on an internal port)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from foresight import __version__
from foresight.api.deps import PlatformDep
from foresight.platform.monitoring import PROMETHEUS_CONTENT_TYPE
from foresight.platform.runtime import Platform
from foresight.platform.stream_runner import stream_health

log = structlog.get_logger(__name__)

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    timestamp: datetime
    components: dict[str, Any]


@router.get("/live", response_model=dict[str, str])
async def live() -> dict[str, str]:
    """Liveness: the process answers (on the event loop itself: no thread-pool hop)."""
    return {"status": "alive"}


def _redis_ok(platform: Platform) -> bool | None:
    """None without Redis; else whether it answers a ping now (short timeout)."""
    if platform.redis is None:
        return None
    try:
        return bool(platform.redis.ping())
    except Exception:
        return False


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: bool
    redis: bool | None = Field(None, description="Absent without Redis; it is optional.")


@router.get(
    "/ready",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "Not ready: the database is away."}},
)
def ready(platform: PlatformDep, response: Response) -> dict[str, Any]:
    """Readiness: 503 when the API cannot serve (its database is away). Redis is
    optional at run time: without it the API serves on local limits and cache."""
    ok, redis_ok = platform.db.ping(), _redis_ok(platform)
    response.status_code = 200 if ok else 503
    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "database": ok}
    if redis_ok is not None:
        body["redis"] = redis_ok
    return body


def _app_components(platform: Platform) -> dict[str, dict[str, Any]]:
    """Every app's own components (``App.health``) as ``<app>:<name>``; an app whose
    probe raises shows as one component that is not ok, never as a 500."""
    found: dict[str, dict[str, Any]] = {}
    for app in platform.apps:
        try:
            entries = app.health(platform)
        except Exception as exc:
            log.exception("app_health_failed", app=app.name)
            # /health needs no key: the type only here, the message in the log.
            entries = {"health": {"ok": False, "error": type(exc).__name__}}
        for key, entry in entries.items():
            # An entry that does not say ``ok`` counts as not ok: silence is no health.
            found[f"{app.name}:{key}"] = {**entry, "ok": bool(entry.get("ok")), "app": app.name}
    return found


@router.get("/health", response_model=Health)
def health(platform: PlatformDep) -> Health:
    """Overall health, always as a document: database, Redis, a production version of
    every app's models and each app's own components. ``unhealthy``: the database is
    away; ``degraded``: Redis is away (local fallbacks serve), a model has no production
    version or an app component is not ok."""
    db_ok = platform.db.ping()
    components: dict[str, Any] = {
        "database": {"ok": db_ok, "backend": platform.db.engine.dialect.name}
    }
    redis_ok = _redis_ok(platform)
    if redis_ok is not None:
        components["redis"] = {"ok": redis_ok, "fallback": None if redis_ok else "in-process"}
    for app, spec in platform.model_specs():
        try:
            mv = platform.registry.production(spec.name) if db_ok else None
        except Exception:  # the database went away between the ping and this query
            db_ok, mv = False, None
        components[f"model:{spec.name}"] = {
            "ok": mv is not None,
            "app": app.name,
            "version": mv.label if mv else None,
        }
    components.update(_app_components(platform))
    if db_ok and platform.consumer_specs():
        try:
            components.update(stream_health(platform))
        except Exception as exc:  # Redis or the database went away mid-probe
            log.warning("stream_health_failed", error=type(exc).__name__)
            components["streams"] = {"ok": False, "error": type(exc).__name__}
    others_ok = all(c["ok"] for k, c in components.items() if k != "database")
    status = "unhealthy" if not db_ok else "healthy" if others_ok else "degraded"
    return Health(
        status=status, version=__version__, timestamp=datetime.now(UTC), components=components
    )


@router.get("/metrics", response_class=Response)
def metrics(platform: PlatformDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(platform.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
