from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.platform.runtime import Platform


@pytest.fixture(scope="session")
def api(trained: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(trained)) as client:
        yield client


@pytest.fixture(scope="session")
def keys(trained: Platform) -> dict[str, dict[str, str]]:
    out = {}
    for role in ("admin", "analyst", "service"):
        plain, _ = trained.keys.create(name=f"test-{role}", role=role)
        out[role] = {"X-API-Key": plain}
    return out
