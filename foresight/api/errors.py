"""Map platform errors and validation failures to clear 4xx answers, once."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from foresight.platform.errors import ForesightError

log = structlog.get_logger(__name__)

DB_RETRY_AFTER = 5  # seconds a client waits before retrying while the database is away


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _invalid(raw: Any) -> JSONResponse:
    """A 422 naming each bad field, with a one-line summary in ``detail``."""
    errors = [{"field": _location(tuple(e["loc"])), "message": e["msg"]} for e in raw]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return JSONResponse(
        {"detail": f"invalid request: {summary}", "errors": errors}, status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ForesightError)
    async def foresight_error(_: Request, exc: ForesightError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.message}
        if exc.details is not None:
            body["errors"] = exc.details
        if exc.status >= 500:
            log.error("server_error", error=exc.message)
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(exc.errors())

    @app.exception_handler(ValidationError)
    async def model_validation_error(_: Request, exc: ValidationError) -> JSONResponse:
        # Bodies some hot routes validate themselves: same answer as FastAPI's own 422.
        return _invalid(exc.errors())

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database is away (stopped, unreachable, out of connections): the request may
        # succeed later, so say when to retry instead of answering an opaque 500.
        log.error("database_unavailable", error_type=type(exc).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(DB_RETRY_AFTER)},
        )
