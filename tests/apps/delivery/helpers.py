"""What the delivery tests that build parts on a database share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import foresight.apps.delivery as delivery_pkg
from foresight.apps.delivery.schemas import CustomerIn
from foresight.platform.db import migrate
from foresight.platform.db.engine import Database

MIGRATIONS = Path(delivery_pkg.__file__).parent / "migrations"


def migrated(url: str) -> Database:
    """A database at ``url`` with the platform's and the delivery app's tables."""
    db = Database(url)
    migrate.upgrade(db, [MIGRATIONS])
    return db


def new(cid: str, zone: str = "Z01", **kw: Any) -> CustomerIn:
    """A New York customer in ``zone``."""
    return CustomerIn(customer_id=cid, timezone="America/New_York", address_zone=zone, **kw)
