"""Dependencies shared by every route, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import fastapi.routing
from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from foresight.platform.auth import Principal
from foresight.platform.runtime import Platform

# Declared in the OpenAPI document by ``api.app.openapi_security`` rather than through a
# FastAPI security dependency: one dependency fewer to resolve on every request.
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key from `foresight keys create`.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key as `Authorization: Bearer <key>`.",
    },
}


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]

S = TypeVar("S")


def service_of(cls: type[S]) -> Callable[[Request], Awaitable[S]]:
    """A dependency giving the process's app service of class ``cls``.

    Use as ``Annotated[ChurnService, Depends(service_of(ChurnService))]``.
    """

    async def get(request: Request) -> S:
        platform: Platform = request.app.state.platform
        return platform.service_of(cls)

    get.__name__ = f"get_{cls.__name__}"
    return get


def service_from(request: Request, cls: type[S]) -> S:
    """The same service without a dependency (for the hottest routes, which take the
    request anyway: each dependency FastAPI resolves costs a step per request)."""
    platform: Any = request.app.state.platform
    return platform.service_of(cls)  # type: ignore[no-any-return]


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def authenticate(platform: Platform, request: Request) -> Principal:
    """The caller's principal; 401 without a valid key, 429 past the key's rate limit."""
    headers = request.headers
    plain = headers.get("x-api-key") or _bearer(headers.get("authorization"))
    if not plain:
        raise HTTPException(
            401,
            "missing API key: send it as X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = platform.keys.verify(plain)
    if principal is None:
        raise HTTPException(
            401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    allowed, retry_after = platform.limiter.hit(f"key:{principal.key_id}")
    if not allowed:
        platform.metrics.rate_limited.inc()
        raise HTTPException(
            429,
            f"rate limit exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    return principal


def _takes_many(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, set, frozenset, tuple):
        return True
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_many(a) for a in get_args(annotation))
    return False


def refuse_repeated_values(request: Request) -> None:
    """422 for a query parameter given several times where the route takes one value
    (FastAPI would silently keep the last one)."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = {name for name in names if names.count(name) > 1}
    if not repeated:
        return
    single: set[str] = set()
    pending = [getattr(request.scope.get("route"), "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        single |= {
            f.alias for f in dependant.query_params if not _takes_many(f.field_info.annotation)
        }
        pending.extend(dependant.dependencies)
    if bad := sorted(repeated & single):
        raise RequestValidationError(
            [
                {"type": "repeated", "loc": ("query", name), "msg": f"give {name} once"}
                for name in bad
            ]
        )


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only roles that hold ``permission`` (401/403/429 otherwise).

    One async dependency per route on purpose: each sync or nested dependency costs
    FastAPI a thread-pool hop or a resolution step on the prediction hot path. Key checks
    are cached in memory, so the event loop waits on the database only on a cache miss.
    """

    async def check(request: Request) -> Principal:
        principal = authenticate(request.app.state.platform, request)
        if not principal.can(permission):
            raise HTTPException(
                403,
                f"the {principal.role!r} role may not {permission}; use a key with a role that can",
            )
        # Here, in the one dependency every keyed route resolves anyway: no extra step per
        # request, and nothing at all without a second query parameter.
        if b"&" in request.scope.get("query_string", b""):
            refuse_repeated_values(request)
        return principal

    # The route table says which permission each route needs: the OpenAPI document, the
    # validation-error handler (auth before body errors) and the auth-matrix test read it.
    check.permission = permission  # type: ignore[attr-defined]
    return check


def route_table(app: Any) -> list[Any]:
    """Every route of ``app`` with its full path, methods and dependencies.

    Recent FastAPI keeps an included router as one lazy branch of ``app.routes``;
    ``iter_route_contexts`` flattens the branches (older versions have flat routes).
    """
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(flatten(app.routes)) if flatten else list(app.routes)


def auth_check(route: Any) -> Callable[[Request], Awaitable[Principal]] | None:
    """The ``require`` dependency of ``route`` (at any depth), or None for an open route
    (probes, metrics, docs)."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        if hasattr(dependant.call, "permission"):
            return dependant.call  # type: ignore[no-any-return]
        pending.extend(dependant.dependencies)
    return None


def permission_of(route: Any) -> str | None:
    """The permission a key needs to call ``route`` ("predict", "read", "write", "admin"),
    or None for an open route."""
    check = auth_check(route)
    return None if check is None else check.permission  # type: ignore[attr-defined]


Predictor = Annotated[Principal, Depends(require("predict"))]
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
