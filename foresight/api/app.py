"""The FastAPI app factory: platform routes plus every registered app's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from foresight import __version__
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
        for spec in apps:
            if spec.on_start:
                spec.on_start(platform)
        yield

    app = FastAPI(
        title="Foresight",
        version=__version__,
        description="Predictions a business operates on. Send an API key as `X-API-Key`.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(models.router)
    app.include_router(admin.router)
    for spec in apps:
        app.include_router(spec.router(platform), prefix=f"/api/v1/{spec.name}")
    app.add_middleware(ObservabilityMiddleware, metrics=platform.metrics)
    return app
