"""Map platform errors and validation failures to clear 4xx answers, once.

Every error body is built by :func:`error_body`, in the shape the OpenAPI document
declares (``ErrorResponse``): ``detail`` says what to fix, ``errors`` names the fields.
Echoed text is clipped and the list is capped there, so an error answer stays small
whatever the request held (200,000 unknown keys are 50 listed errors and a count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from foresight.api.deps import auth_check, route_table
from foresight.platform.errors import ForesightError
from foresight.platform.schemas import MAX_LISTED_ERRORS

log = structlog.get_logger(__name__)

DB_RETRY_AFTER = 5  # seconds a client waits before retrying while the database is away
MAX_VALUE_CHARS = 100  # a field name or any value echoed back
MAX_MESSAGE_CHARS = 300  # one field error's message
MAX_DETAIL_CHARS = 1000  # the one-line summary
SUMMARY_ERRORS = 5  # field errors repeated in ``detail``

_PYDANTIC_JSON = re.compile(
    r"^Invalid JSON: (?P<what>.*) at line (?P<line>\d+) column (?P<col>\d+)$"
)
_BODY = {"field": "body"}
_EMPTY_BODY = "the request body is empty; send a JSON object with Content-Type: application/json"


def clip(text: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` as a string of at most ``limit`` characters (an ellipsis marks a cut)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item(raw: Any) -> dict[str, Any]:
    """One field error, clipped; a non-dict detail becomes a message about the body."""
    if not isinstance(raw, Mapping):
        return {"field": "body", "message": clip(raw, MAX_MESSAGE_CHARS)}
    item: dict[str, Any] = {
        "field": clip(raw.get("field", "body")),
        "message": clip(raw.get("message", ""), MAX_MESSAGE_CHARS),
    }
    for key, value in raw.items():
        if key in item:
            continue
        if key == "row" and isinstance(value, int) and not isinstance(value, bool):
            item["row"] = value
        elif value is None or isinstance(value, bool | int | float):
            item[key] = value
        else:
            item[key] = clip(value)
    return item


def error_body(
    detail: str, errors: Iterable[Any] | None = None, *, total: int | None = None
) -> dict[str, Any]:
    """The JSON body of every error answer: ``detail``, the first ``MAX_LISTED_ERRORS``
    field errors and, when there were more, ``error_count`` (``total`` if given: the
    count when ``errors`` holds only the first ones)."""
    body: dict[str, Any] = {"detail": clip(detail, MAX_DETAIL_CHARS)}
    if errors is None:
        return body
    if isinstance(errors, str | bytes | Mapping):
        errors = [errors]
    listed: list[dict[str, Any]] = []
    count = 0
    for count, raw in enumerate(errors, 1):
        if count <= MAX_LISTED_ERRORS:
            listed.append(_item(raw))
    body["errors"] = listed
    count = max(count, total or 0)
    if count > len(listed):
        body["error_count"] = count
    return body


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _json_position(document: Any, pos: int) -> tuple[int, int]:
    """1-based line and column of character ``pos`` in ``document`` (as ``json`` counts)."""
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else str(document)
    line = text.count("\n", 0, pos) + 1
    return line, pos - text.rfind("\n", 0, pos)


def _blank(value: Any) -> bool:
    return not (value.strip() if isinstance(value, str | bytes) else value)


def _not_json(what: str, line: int | str, column: int | str) -> dict[str, str]:
    what = what[:1].lower() + what[1:]
    return {
        "field": "body",
        "message": f"the request body is not valid JSON (line {line}, column {column}: {what})",
    }


def _field_error(raw: Mapping[str, Any], document: Any = None) -> dict[str, Any]:
    """A pydantic/FastAPI error as ``{"field", "message"}``, in words a client can act on."""
    kind, loc = raw.get("type"), tuple(raw.get("loc", ()))
    if kind == "json_invalid":
        # FastAPI's parser puts the byte offset in ``loc`` (not a field) and the reason in
        # ``ctx``; pydantic's puts line and column in the message.
        if len(loc) == 2 and isinstance(loc[1], int):
            line, column = _json_position(document or "", loc[1])
            return _not_json(str(raw.get("ctx", {}).get("error", "")), line, column)
        match = _PYDANTIC_JSON.match(str(raw.get("msg", "")))
        if match and _blank(raw.get("input")):
            return _BODY | {"message": _EMPTY_BODY}
        if match:
            return _not_json(match["what"], match["line"], match["col"])
        return _BODY | {"message": "the request body is not valid JSON"}
    if loc == ("body",) and kind == "missing":
        return _BODY | {"message": _EMPTY_BODY}
    if loc == ("body",) and isinstance(raw.get("input"), bytes):
        # A body FastAPI did not parse: it was not sent as JSON.
        return _BODY | {"message": "send the body as JSON (Content-Type: application/json)"}
    if kind == "value_error" and "error" in raw.get("ctx", {}):
        # A validator's own words, without pydantic's "Value error, " in front.
        return {"field": _location(loc), "message": str(raw["ctx"]["error"])}
    return {"field": _location(loc), "message": str(raw.get("msg", ""))}


def _invalid(raw: Sequence[Mapping[str, Any]], document: Any = None) -> JSONResponse:
    """A 422 naming each bad field, with a one-line summary in ``detail``."""
    errors = [_field_error(e, document) for e in raw[:MAX_LISTED_ERRORS]]
    summary = "; ".join(
        f"{clip(e['field'])}: {clip(e['message'], MAX_MESSAGE_CHARS)}"
        for e in errors[:SUMMARY_ERRORS]
    )
    if len(raw) > SUMMARY_ERRORS:
        summary += f"; and {len(raw) - SUMMARY_ERRORS} more"
    body = error_body(f"invalid request: {summary}", errors, total=len(raw))
    return JSONResponse(body, status_code=422)


def _before_dependencies(errors: Sequence[Mapping[str, Any]]) -> bool:
    """Whether FastAPI failed reading the body, which it does before any dependency:
    its JSON parse error names the byte offset where ``loc`` names a field."""
    return any(
        e.get("type") == "json_invalid"
        and len(loc := tuple(e.get("loc", ()))) == 2
        and isinstance(loc[1], int)
        for e in errors
    )


def _database_unavailable() -> JSONResponse:
    return JSONResponse(
        error_body("the database is unavailable; retry shortly"),
        status_code=503,
        headers={"Retry-After": str(DB_RETRY_AFTER)},
    )


async def _refused(request: Request) -> Response | None:
    """The auth answer (401/403/429) for a request whose body failed before the route's
    dependencies ran, or None if its key may call the route.

    FastAPI parses a JSON body before it resolves dependencies, so without this a
    malformed body would tell a caller with no key a 422 instead of a 401.
    """
    check = auth_check(request.scope.get("route"))
    if check is None:
        return None
    try:
        await check(request)
    except HTTPException as exc:
        return await http_exception_handler(request, exc)
    except (OperationalError, InterfaceError):
        return _database_unavailable()
    return None


def _allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (Starlette names only one route's).

    Routes whose template is this very path win over templates with a parameter that
    happens to match it (``/webhooks/deliveries`` is not a ``/webhooks/{id}``).
    """
    path = request.scope.get("path")
    routes = [r for r in route_table(request.app) if r.matches(request.scope)[0] is not Match.NONE]
    exact = [r for r in routes if getattr(r, "path_format", None) == path]
    methods = {m for r in exact or routes for m in getattr(r, "methods", None) or ()}
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to HTTP answers."""

    @app.exception_handler(ForesightError)
    async def foresight_error(_: Request, exc: ForesightError) -> JSONResponse:
        if exc.status >= 500:
            log.error("server_error", error=exc.message)
        return JSONResponse(error_body(exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if _before_dependencies(errors):
            refused = await _refused(request)
            if refused is not None:
                return refused
        return _invalid(errors, exc.body)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI read a body that is not UTF-8 text before the route's dependencies.
            refused = await _refused(request)
            if refused is not None:
                return refused
            message = "the request body is not valid JSON: it is not UTF-8 text"
            body = error_body(f"invalid request: body: {message}", [_BODY | {"message": message}])
            return JSONResponse(body, status_code=422)
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        if not is_body_allowed_for_status_code(exc.status_code):
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse(error_body(str(exc.detail)), exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database is away (stopped, unreachable, out of connections): the request may
        # succeed later, so say when to retry instead of answering an opaque 500.
        log.error("database_unavailable", error_type=type(exc).__name__)
        return _database_unavailable()
