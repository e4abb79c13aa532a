"""Restaurant fixtures: a tiny hand-made RMS (the demo's schema, rows we choose) and a
platform pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, insert

from foresight.apps.restaurant import demo_rms
from foresight.platform.runtime import Platform
from tests.conftest import make_settings

MENU = [
    ("margherita", "M", "Margherita", "classic", 12.0),
    ("margherita", "L", "Margherita", "classic", 16.0),
    ("hawaiian", "M", "Hawaiian", "classic", 13.0),
    ("veggie", "L", "Veggie", "veggie", 17.0),
]
COLUMNS = ("item_id", "size", "name", "category", "price")


def make_rms(
    url: str, *, days: int = 42, seed: int = 0, start: datetime = datetime(2015, 3, 2)
) -> dict[str, int]:
    """An RMS with ``days`` days of orders between 11:00 and 23:00 (more on Fri/Sat),
    two lines each with station times, and a small inventory. Returns row counts."""
    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    demo_rms.METADATA.drop_all(engine)
    demo_rms.METADATA.create_all(engine)
    orders, lines, stations = [], [], []
    oid = line = 0
    for day in range(days):
        date = start + timedelta(days=day)
        per_hour = 3 if date.weekday() >= 4 else 2
        for hour in range(11, 23):
            for _ in range(rng.poisson(per_hour)):
                oid += 1
                at = date + timedelta(hours=hour, minutes=int(rng.integers(0, 60)))
                delivery = rng.random() < 0.3
                orders.append(
                    {
                        "order_id": oid,
                        "restaurant_id": "main",
                        "ordered_at": at,
                        "updated_at": at,
                        "customer_id": f"c{rng.integers(0, 40)}" if rng.random() < 0.5 else None,
                        "channel": "delivery" if delivery else "dine_in",
                        "status": "completed",
                        "delivery_distance": float(rng.uniform(1, 8)) if delivery else None,
                        "delivered_at": at + timedelta(minutes=30) if delivery else None,
                    }
                )
                for k in range(2):
                    line += 1
                    item, size, _, _, price = MENU[int(rng.integers(0, len(MENU)))]
                    lines.append(
                        {
                            "order_item_id": line,
                            "order_id": oid,
                            "item_id": item,
                            "size": size,
                            "quantity": 1,
                            "unit_price": price,
                        }
                    )
                    stations.append(
                        {
                            "order_item_id": line,
                            "station_id": "oven",
                            "started_at": at + timedelta(minutes=2),
                            "finished_at": at + timedelta(minutes=10 + k),
                        }
                    )
    with engine.begin() as conn:
        conn.execute(
            insert(demo_rms.menu_items),
            [dict(zip(COLUMNS, m, strict=True)) for m in MENU],
        )
        conn.execute(insert(demo_rms.orders), orders)
        conn.execute(insert(demo_rms.order_items), lines)
        conn.execute(insert(demo_rms.order_item_stations), stations)
        conn.execute(
            insert(demo_rms.inventory_items),
            [{"ingredient_id": "cheese", "name": "Mozzarella", "unit": "g"}],
        )
    engine.dispose()
    return {"orders": len(orders), "lines": len(lines), "stations": len(stations)}


def platform_on(path: Path, rms_url: str, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """A fresh platform whose restaurant app reads ``rms_url``."""
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", rms_url)
    return Platform.create(make_settings(path))


@pytest.fixture
def rms(tmp_path: Path) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{tmp_path / 'rms.sqlite'}"
    return url, make_rms(url)


@pytest.fixture
def small(
    tmp_path: Path, rms: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    p = platform_on(tmp_path / "fs", rms[0], monkeypatch)
    yield p
    p.close()
