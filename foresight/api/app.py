"""The FastAPI app factory: platform routes plus every registered app's router."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from foresight import __version__
from foresight.api.errors import install_error_handlers
from foresight.api.middleware import BodyLimitMiddleware, ObservabilityMiddleware
from foresight.api.openapi import install_openapi
from foresight.api.routes import admin, jobs, models, operations, outcomes, system, tabular
from foresight.platform.jobs import share_the_gil
from foresight.platform.runtime import Platform
from foresight.platform.stream_runner import Consumers


def create_app(platform: Platform, *, owns_platform: bool = False) -> FastAPI:
    """Build the API over an existing :class:`Platform` (tests pass their own).

    ``owns_platform``: close it at shutdown (flushing buffered logs, stopping threads);
    a server process does, a test sharing one platform across clients does not.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Jobs whose owner stopped heart-beating are failed; a live replica's are not.
        platform.jobs.recover()
        share_the_gil()  # a server setting: requests stay quick while a job computes
        # Server-only threads: a CLI command building a Platform starts neither.
        platform.keys.watch()  # revocations made elsewhere reach this process in ~1 s
        if platform.settings.webhook_dispatch:
            platform.notifier.start()
        for _, spec in platform.model_specs():
            platform.server.warm(spec.name)
        if platform.settings.scheduler:
            # Every worker may run one: the lease row lets one process run each due task.
            platform.scheduler.start(platform.settings.scheduler_interval)
        run_consumers = platform.settings.stream_consumers
        if run_consumers is None:
            run_consumers = platform.settings.redis_url is None
        consumers = Consumers(platform) if run_consumers else None
        if consumers is not None:
            consumers.start()  # workers and replicas share the partitions through leases
        # Start-up objects (models, routes, modules) never die: keep them out of the
        # collector's generations so a full collection does not stall a request.
        gc.collect()
        gc.freeze()
        yield
        if consumers is not None:
            consumers.stop()  # the batch in hand commits; the partitions go back
        if platform.settings.scheduler:
            # A training in progress is left to its lease: another process takes it over.
            platform.scheduler.stop(timeout=5.0)
        if owns_platform:
            platform.close()

    app = FastAPI(
        title="Foresight",
        version=__version__,
        description="Predictions a business operates on. Send an API key as `X-API-Key`.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    install_error_handlers(app)
    # Apps first: routes match in order, and prediction routes are the hot path.
    for installed in platform.apps:
        for router in installed.routers():  # each carries its own /api/v1/… prefix
            app.include_router(router)
    app.include_router(models.router)
    app.include_router(tabular.router)
    app.include_router(jobs.router)
    app.include_router(operations.router)
    app.include_router(outcomes.router)
    app.include_router(admin.router)
    app.include_router(system.router)
    # Inside the observability middleware, so a 413 is counted and logged like any answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=platform.settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=platform.metrics)
    install_openapi(app)
    return app
