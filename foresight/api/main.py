"""Entry point for ``uvicorn --factory foresight.api.main:app_factory`` (one per worker)."""

from __future__ import annotations

from fastapi import FastAPI

from foresight.api.app import create_app
from foresight.platform.logging import configure_logging
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings


def app_factory() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(Platform.create(settings), owns_platform=True)
