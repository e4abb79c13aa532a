"""The FastAPI app factory: platform routes plus every registered app's router."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from foresight import __version__
from foresight.api.deps import SECURITY_SCHEMES
from foresight.api.errors import install_error_handlers
from foresight.api.middleware import ObservabilityMiddleware
from foresight.api.routes import admin, models, system
from foresight.platform.apps import all_apps
from foresight.platform.runtime import Platform


def create_app(platform: Platform) -> FastAPI:
    """Build the API over an existing :class:`Platform` (tests pass their own)."""
    apps = all_apps()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Only a process that runs jobs may fail the ones a crashed run left behind: a CLI
        # command starting beside a live server must not touch that server's jobs.
        platform.jobs.recover()
        for spec in apps:
            platform.server.warm(spec.name)
            if spec.on_start:
                spec.on_start(platform)
        # Start-up objects (models, routes, modules) never die: keep them out of the
        # collector's generations so a full collection does not stall a request.
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(
        title="Foresight",
        version=__version__,
        description="Predictions a business operates on. Send an API key as `X-API-Key`.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    install_error_handlers(app)
    # Apps first: routes match in order, and prediction routes are the hot path.
    for spec in apps:
        app.include_router(spec.router(platform))  # each app router carries /api/v1/<app>
    app.include_router(models.router)
    app.include_router(admin.router)
    app.include_router(system.router)
    app.add_middleware(ObservabilityMiddleware, metrics=platform.metrics)
    openapi_security(app)
    return app


def openapi_security(app: FastAPI) -> None:
    """Mark every ``/api/v1`` operation as needing an API key in the OpenAPI document."""
    from fastapi.openapi.utils import get_openapi

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in schema["paths"].items():
                if path.startswith("/api/"):
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
