"""What the delivery tests share: parts on a migrated database, and the app over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

import foresight.apps.delivery as delivery_pkg
from foresight.api.app import create_app
from foresight.apps.delivery import APP
from foresight.apps.delivery.schemas import CustomerIn, DeliverySettings
from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.runtime import Platform
from tests.conftest import make_keys, make_settings

BASE = "/api/v1/delivery"
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday

MIGRATIONS = Path(delivery_pkg.__file__).parent / "migrations"


def migrated(url: str) -> Database:
    """A database at ``url`` with the platform's and the delivery app's tables."""
    db = Database(url)
    migrate.upgrade(db, [MIGRATIONS])
    return db


def new(cid: str, zone: str = "Z01", **kw: Any) -> CustomerIn:
    """A New York customer in ``zone``."""
    return CustomerIn(customer_id=cid, timezone="America/New_York", address_zone=zone, **kw)


class Clock:
    """Each call is one second later: every write has its own, known time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Api:
    """The test client with a key per role: ``api.get(path, role="service", …)``."""

    def __init__(self, client: TestClient, keys: dict[str, dict[str, str]]) -> None:
        self.client, self.keys = client, keys

    def call(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> Any:
        headers = {**(self.keys[role] if role else {}), **kw.pop("headers", {})}
        return self.client.request(method, BASE + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.call("POST", path, **kw)

    def put_calendar(self, cid: str, content: Any, kind: str = "text/calendar") -> Any:
        return self.call(
            "PUT", f"/customers/{cid}/calendar", content=content, headers={"Content-Type": kind}
        )

    def customer(self, cid: str, **extra: Any) -> Any:
        body = {"customer_id": cid, "timezone": "America/New_York", "address_zone": "Z01"}
        answer = self.post("/customers", json=body | extra)
        assert answer.status_code == 201, answer.text
        return answer.json()


@contextmanager
def serving(path: Path, settings: DeliverySettings | None = None) -> Iterator[Api]:
    """The delivery app alone on a fresh platform in ``path``, its clock a ``Clock``."""
    app = APP(settings or DeliverySettings())  # type: ignore[call-arg]
    platform = Platform.create(make_settings(path, apps=[]), apps=[app], clock=Clock())
    keys = make_keys(platform)
    try:
        with TestClient(create_app(platform)) as client:
            yield Api(client, keys)
    finally:
        platform.close()


def refused(answer: httpx.Response, status: int) -> list[str]:
    """The fields an error answer names, once its status is checked."""
    assert answer.status_code == status, answer.text
    return [e["field"] for e in answer.json().get("errors", [])]
