from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.apps.sales.demo import pizza_transactions
from foresight.apps.sales.service import SalesService
from foresight.platform.runtime import Platform
from foresight.platform.training import no_progress
from tests.conftest import make_keys, make_settings


@pytest.fixture(scope="module")
def sales(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform with a year of pizza orders and a trained, promoted sales model."""
    path: Path = tmp_path_factory.mktemp("sales")
    p = Platform.create(make_settings(path))
    service = p.service_of(SalesService)
    service.import_frame(pizza_transactions(), source="test", actor="test")
    outcome = service.train(no_progress)
    assert outcome.promoted
    yield p
    p.close()


@pytest.fixture(scope="module")
def client(sales: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(sales)) as c:
        yield c


@pytest.fixture(scope="module")
def headers(sales: Platform) -> dict[str, dict[str, str]]:
    return make_keys(sales)
