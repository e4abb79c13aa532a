"""Fixtures shared by the platform tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foresight.platform.db import migrate
from foresight.platform.db.engine import Database


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated platform database (no app tables) on each backend ``db_url`` names."""
    database = Database(db_url)
    migrate.upgrade(database, [])
    yield database
    database.dispose()
