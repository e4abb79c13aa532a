"""Auth on every route, derived from the route table: each non-probe route refuses no
key, a wrong key and a revoked key (401), and each role reaches exactly the routes its
permissions allow (403 otherwise), whatever the body. A new app's routes are covered by
these tests without a line added here.

Each route's permission is read from the route itself (its ``require`` dependency), the
same way the OpenAPI document gets it; the requests go to a platform of their own, since
an admin's valid request may revoke keys or subscribe webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import Phase, find, settings
from schemathesis.core import NOT_SET

from foresight.api.app import create_app
from foresight.api.deps import permission_of, route_table
from foresight.platform.auth import PERMISSIONS, ROLES
from foresight.platform.runtime import Platform
from tests.conftest import make_settings

OPEN_PATHS = {
    "/live",
    "/ready",
    "/health",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
MALFORMED = b'{"broken": '


class Route:
    """One operation of the route table, with a request its document allows."""

    def __init__(self, method: str, path: str, permission: str | None) -> None:
        self.method, self.path, self.permission = method, path, permission
        self.url, self.query, self.body = path, {}, None

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"

    def bodies(self) -> list[dict[str, Any]]:
        """Request bodies to try: a valid one (if the operation takes one), ``{}`` (which
        fails validation on most routes) and malformed JSON."""
        json = {"headers": {"Content-Type": "application/json"}}
        valid = [{**json, "content": self.body}] if self.body is not None else [{}]
        return [*valid, {**json, "content": b"{}"}, {**json, "content": MALFORMED}]


def _routes(app: Any) -> list[Route]:
    return [
        Route(method, route.path_format, permission_of(route))
        for route in route_table(app)
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD"
    ]


def _valid_requests(routes: list[Route], document: dict[str, Any]) -> None:
    """Fill each route's URL, query and body with a schema-valid request: the first that
    schemathesis generates for it (derandomized, so the same on every run)."""
    schema = schemathesis.openapi.from_dict(document)
    for route in routes:
        if route.permission is None:
            continue
        operation = schema[route.path][route.method]
        case = find(
            operation.as_strategy(),
            lambda _: True,
            # No shrinking: the smallest request costs seconds per operation to find.
            settings=settings(
                database=None, derandomize=True, max_examples=50, phases=[Phase.generate]
            ),
        )
        route.url, route.query = case.formatted_path, dict(case.query or {})
        if case.media_type == "application/json" and case.body is not NOT_SET:
            route.body = json.dumps(case.body).encode()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Platform]]:
    """An API over a platform of its own (no rate limit in the way, webhooks not sent)."""
    path: Path = tmp_path_factory.mktemp("auth-matrix")
    platform = Platform.create(make_settings(path, rate_limit="1000000/minute"))
    platform.notifier.client = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(204))
    )
    with TestClient(create_app(platform)) as client:
        yield client, platform
    platform.close()


@pytest.fixture(scope="module")
def routes(guarded: tuple[TestClient, Platform]) -> list[Route]:
    client, _ = guarded
    table = _routes(client.app)
    _valid_requests(table, client.app.openapi())  # type: ignore[attr-defined]
    return table


def _send(client: TestClient, route: Route, key: dict[str, str], **body: Any) -> int:
    headers = {**key, **body.pop("headers", {})}
    response = client.request(route.method, route.url, params=route.query, headers=headers, **body)
    return response.status_code


def test_every_route_but_the_probes_needs_a_key(routes: list[Route]) -> None:
    unguarded = [r for r in routes if r.permission is None and r.path not in OPEN_PATHS]
    assert not unguarded, f"routes anyone may call: {unguarded}"
    assert all(r.permission in PERMISSIONS["admin"] for r in routes if r.permission)
    assert len([r for r in routes if r.permission]) >= 30  # every app's routes are here


def test_no_key_a_wrong_key_and_a_revoked_key_get_401(
    guarded: tuple[TestClient, Platform], routes: list[Route]
) -> None:
    client, platform = guarded
    revoked, principal = platform.keys.create(name="revoked", role="admin")
    platform.keys.revoke(principal.key_id)
    refused = [
        {},
        {"X-API-Key": "fs_00000000_wrong"},
        {"Authorization": "Bearer fs_00000000_wrong"},
        {"X-API-Key": revoked},
    ]
    wrong = [
        (route, headers, body.get("content"), status)
        for route in routes
        if route.permission is not None
        for headers in refused
        for body in route.bodies()
        if (status := _send(client, route, headers, **body)) != 401
    ]
    assert not wrong, "\n".join(map(str, wrong))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_only_its_routes(
    guarded: tuple[TestClient, Platform], routes: list[Route], role: str
) -> None:
    client, platform = guarded
    wrong = []
    for route in routes:
        if route.permission is None:
            continue
        allowed = route.permission in PERMISSIONS[role]
        for body in route.bodies():
            # A key of its own per request: an admin's valid DELETE may revoke a key.
            plain, _ = platform.keys.create(name=f"matrix-{role}", role=role)
            status = _send(client, route, {"X-API-Key": plain}, **dict(body))
            if (status == 403) == allowed or status == 401:
                wrong.append((route, body.get("content"), status))
    assert not wrong, f"{role}: " + "\n".join(map(str, wrong))
