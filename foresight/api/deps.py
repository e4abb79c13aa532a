"""Dependencies shared by every route, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from foresight.platform.auth import Principal
from foresight.platform.runtime import Platform

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key from `foresight keys create`.")
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def authenticate(
    platform: PlatformDep,
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller's principal; 401 without a valid key, 429 past the key's rate limit."""
    plain = key or (token.credentials if token else None)
    if not plain:
        raise HTTPException(401, "missing API key: send it as X-API-Key or Authorization: Bearer",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = platform.keys.verify(plain)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    allowed, retry_after = platform.limiter.hit(f"key:{principal.key_id}")
    if not allowed:
        platform.metrics.rate_limited.inc()
        raise HTTPException(429, f"rate limit exceeded; retry in {retry_after} s",
                            headers={"Retry-After": str(retry_after)})
    return principal


def require(permission: str) -> object:
    """A dependency that admits only roles holding ``permission`` (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(permission):
            raise HTTPException(403, f"the {principal.role!r} role may not {permission}; "
                                     "use a key with a role that can")
        return principal

    return Depends(check)


Predictor = Annotated[Principal, require("predict")]
Reader = Annotated[Principal, require("read")]
Writer = Annotated[Principal, require("write")]
Admin = Annotated[Principal, require("admin")]
