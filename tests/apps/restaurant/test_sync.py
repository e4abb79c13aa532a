"""Sync from a read-only RMS into the mirror: keyset watermarks, edits, cancellations,
a changed mapping, and nothing written to the RMS."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, update

from foresight.apps.restaurant import demo_rms
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.errors import InvalidInput
from foresight.platform.runtime import Platform
from tests.apps.restaurant.conftest import platform_on


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_sync_mirrors_every_order_and_derives_times(
    small: Platform, rms: tuple[str, dict[str, int]]
) -> None:
    service = small.service_of(RestaurantService)
    url, counts = rms
    before = _digest(Path(url.removeprefix("sqlite:///")))
    report = service.sync_now()
    assert report.full and report.rows["orders"] == counts["orders"]
    assert report.rows["lines"] == counts["lines"] and report.rows["stations"] == counts["stations"]
    orders = service.store.orders()
    assert len(orders) == counts["orders"]
    assert orders["n_items"].eq(2).all()
    # Two lines finish at +10 and +11 minutes: the ticket is ready at +11.
    assert orders["ticket_minutes"].round(6).eq(11.0).all()
    delivered = orders.dropna(subset=["delivery_minutes"])
    assert len(delivered) and delivered["delivery_minutes"].round(6).eq(30.0).all()
    assert _digest(Path(url.removeprefix("sqlite:///"))) == before  # the RMS is untouched


def test_incremental_sync_reads_only_new_rows_and_never_skips_equal_timestamps(
    small: Platform, rms: tuple[str, dict[str, int]]
) -> None:
    service = small.service_of(RestaurantService)
    service.settings.sync_batch_rows = 100  # many batches: the keyset is exercised
    first = service.sync_now()
    url, counts = rms
    same_time = datetime(2015, 4, 30, 12, 0)
    engine = create_engine(url)
    with engine.begin() as conn:  # 150 orders at one timestamp crosses a batch boundary
        conn.execute(
            insert(demo_rms.orders),
            [
                {
                    "order_id": 100000 + i,
                    "ordered_at": same_time,
                    "updated_at": same_time,
                    "channel": "dine_in",
                    "status": "completed",
                }
                for i in range(150)
            ],
        )
    second = service.sync_now()
    assert not second.full and second.rows["orders"] == 150
    assert second.sync_id == first.sync_id + 1
    third = service.sync_now()
    assert third.rows["orders"] == 0
    assert len(service.store.orders()) == counts["orders"] + 150
    # An edit (updated_at moves) and a cancellation are both seen.
    with engine.begin() as conn:
        later = same_time + timedelta(hours=1)
        conn.execute(
            update(demo_rms.orders)
            .where(demo_rms.orders.c.order_id == 100000)
            .values(channel="takeaway", updated_at=later)
        )
        conn.execute(
            update(demo_rms.orders)
            .where(demo_rms.orders.c.order_id == 100001)
            .values(status="cancelled", updated_at=later)
        )
    engine.dispose()
    fourth = service.sync_now()
    assert fourth.removed == 1
    orders = service.store.orders().set_index("order_id")
    assert orders.loc["100000", "channel"] == "takeaway"
    assert "100001" not in orders.index


def test_a_changed_mapping_forces_a_full_resync(
    tmp_path: Path, rms: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform_on(tmp_path / "a", rms[0], monkeypatch)
    p.service_of(RestaurantService).sync_now()
    p.close()
    # Same mirror, mapping without the delivery columns: the next sync starts over.
    monkeypatch.setenv(
        "FORESIGHT_RESTAURANT_RMS_MAPPING_JSON",
        '{"orders": {"delivery_distance": null, "delivered_at": null}}',
    )
    p = platform_on(tmp_path / "a", rms[0], monkeypatch)
    report = p.service_of(RestaurantService).sync_now()
    assert report.full and report.rows["orders"] == rms[1]["orders"]
    assert p.service_of(RestaurantService).store.orders()["delivery_minutes"].isna().all()
    p.close()


def test_a_mapping_that_names_missing_columns_is_refused_with_every_problem(
    tmp_path: Path, rms: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FORESIGHT_RESTAURANT_RMS_MAPPING_JSON",
        '{"orders": {"ordered_at": "created"}, "menu_items": {"table": "products"}}',
    )
    p = platform_on(tmp_path / "b", rms[0], monkeypatch)
    with pytest.raises(InvalidInput) as err:
        p.service_of(RestaurantService).sync_now()
    message = err.value.message
    assert 'orders.ordered_at → column "created" not found' in message
    assert 'menu_items → table "products" not found' in message
    assert p.service_of(RestaurantService).store.sync_state() is None  # nothing written
    p.close()


def test_an_rms_url_that_cannot_be_opened_read_only_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform_on(tmp_path / "c", "mysql://u:secret@127.0.0.1/rms", monkeypatch)
    with pytest.raises(InvalidInput) as err:
        p.service_of(RestaurantService).sync_now()
    assert "FORESIGHT_RESTAURANT_RMS_URL" in err.value.message
    assert "secret" not in err.value.message
    p.close()


def test_without_updated_at_an_edit_inside_the_lookback_is_seen(
    tmp_path: Path, rms: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_MAPPING_JSON", '{"orders": {"updated_at": null}}')
    p = platform_on(tmp_path / "d", rms[0], monkeypatch)
    service = p.service_of(RestaurantService)
    service.sync_now()
    last = service.store.orders().sort_values("ordered_at").iloc[-1]["order_id"]
    engine = create_engine(rms[0])
    with engine.begin() as conn:
        conn.execute(
            update(demo_rms.orders)
            .where(demo_rms.orders.c.order_id == int(last))
            .values(channel="takeaway")
        )
    engine.dispose()
    report = service.sync_now()
    assert not report.full
    assert service.store.orders().set_index("order_id").loc[last, "channel"] == "takeaway"
    p.close()
