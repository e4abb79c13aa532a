"""Pure-ASGI middleware: request ids, security headers, metrics and access logs; body limits.

Pure ASGI (not ``BaseHTTPMiddleware``) because it sits on every request's hot path.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException

from foresight.api.bodies import size_text
from foresight.api.errors import error_body
from foresight.platform.monitoring import Metrics

log = structlog.get_logger("foresight.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"geolocation=(), camera=(), microphone=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# /docs loads Swagger UI from a CDN; every other answer gets the strict policy.
STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
QUIET_PATHS = {"/metrics", "/live", "/ready", "/health"}
# A client's X-Request-Id goes into headers, logs and error bodies: safe characters only.
_UNSAFE_ID = re.compile(rb"[^A-Za-z0-9._-]")
MAX_REQUEST_ID = 64


def request_id_of(value: bytes) -> str | None:
    """A client-supplied request id cut to ``MAX_REQUEST_ID`` safe characters (letters,
    digits, ``._-``); None if nothing is left."""
    return _UNSAFE_ID.sub(b"", value)[:MAX_REQUEST_ID].decode("ascii") or None


class ObservabilityMiddleware:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                request_id = request_id_of(value)
                break
        request_id = request_id or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        path = scope.get("path", "")
        docs = path.startswith(("/docs", "/redoc"))

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                headers.extend(SECURITY_HEADERS)
                if not docs:
                    headers.append(STRICT_CSP)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Answered here, inside the request's context: the 500 carries the request id
            # and is logged once, as JSON, with it. Not re-raised, so the server does not
            # print a second, plain-text traceback.
            log.exception("unhandled_error", error_type=type(exc).__name__)
            if status_holder.get("started"):
                raise  # the answer is already on its way; nothing else can be sent
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            detail = f"internal error; quote request id {request_id} to the operator"
            body = json.dumps(error_body(detail)).encode()
            await send_wrapper({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = status_holder["status"]
            method = scope.get("method", "GET")
            self.metrics.observe_request(method, template, status, elapsed)
            if path not in QUIET_PATHS:
                log.info(
                    "request",
                    method=method,
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")


UPLOAD_TYPES = (b"multipart/form-data", b"text/csv")
"""Bodies the upload reader (``api/uploads.py``) streams to disk under its own limit."""


class BodyTooLarge(HTTPException):
    """A request body over the limit (413).

    An ``HTTPException`` because it is raised from ``receive``: FastAPI re-raises those
    when it meets them reading a body, and turns any other exception into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than the limit of {size_text(limit)}; send fewer "
            "records per request, or send large data as a CSV upload",
        )


class BodyLimitMiddleware:
    """Answer 413 to a request body over ``max_bytes``: from its Content-Length before a
    byte of it is read, and while it streams in (a chunked body declares no length).

    A CSV upload (multipart or ``text/csv``) to a route that reads the request itself is
    left to the upload reader, which streams it to disk under its own, larger limit; any
    body FastAPI parses (held in memory whole) gets this limit whatever its type.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _limit(self, scope: dict[str, Any], upload: bool) -> int:
        # Decided at the first read, when routing has put the route in the scope. Only a
        # route that reads the request itself and declares an upload body in its
        # OpenAPI (text/csv or multipart) streams it: any other body is held in memory.
        route = scope.get("route")
        if not upload or getattr(route, "body_field", None) is not None:
            return self.max_bytes
        extra = getattr(route, "openapi_extra", None) or {}
        declared = (extra.get("requestBody") or {}).get("content") or {}
        streams = any(kind.encode() in UPLOAD_TYPES for kind in declared)
        return sys.maxsize if streams else self.max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, upload = 0, False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"content-type":
                upload = value.split(b";", 1)[0].strip().lower() in UPLOAD_TYPES
        limit = -1
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal limit, received
            if limit < 0:
                limit = self._limit(scope, upload)
                if declared > limit:
                    raise BodyTooLarge(limit)
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
