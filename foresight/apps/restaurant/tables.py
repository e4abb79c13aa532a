"""The restaurant app's tables in Foresight's own database: the mirror of what it read
from the RMS (orders with derived times, lines, station times, menu, recipes,
ingredients, batches), the sync watermarks and the customer scores. The queries over them
are in :mod:`store`; the RMS itself is never written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, UTCDateTime

ID = 100  # length of id columns: RMS ids arrive as text (an integer id is written "42")


class SyncStateRow(Base):
    """Per source (``orders``): where the last sync stopped, and when it ran."""

    __tablename__ = "restaurant_sync_state"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(Text, nullable=True)
    watermark_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    mapping_digest: Mapped[str] = mapped_column(String(32))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    full_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sync_id: Mapped[int] = mapped_column(Integer, default=0)  # versions the data (caches)


class OrderRow(Base):
    """One order, with what the models need derived once at sync: size, revenue, when its
    kitchen finished, and delivery minutes."""

    __tablename__ = "restaurant_orders"

    order_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    customer_id: Mapped[str | None] = mapped_column(String(ID), nullable=True, index=True)
    channel: Mapped[str | None] = mapped_column(String(50), nullable=True)
    n_items: Mapped[float] = mapped_column(Float, default=0.0)
    revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ticket_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivery_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivery_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)


class OrderLineRow(Base):
    __tablename__ = "restaurant_order_lines"

    line_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(ID), index=True)
    item_id: Mapped[str] = mapped_column(String(ID))
    size: Mapped[str | None] = mapped_column(String(20), nullable=True)
    quantity: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float | None] = mapped_column(Float, nullable=True)


class StationTimeRow(Base):
    __tablename__ = "restaurant_station_times"

    line_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MenuRow(Base):
    __tablename__ = "restaurant_menu"

    item_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    size: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" when unsized
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    price: Mapped[float | None] = mapped_column(Float, nullable=True)


class RecipeRow(Base):
    __tablename__ = "restaurant_recipes"

    item_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    size: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" for every size
    ingredient_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    quantity: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))  # rms | import


class IngredientRow(Base):
    __tablename__ = "restaurant_ingredients"

    ingredient_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    lead_time_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    shelf_life_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    pack_size: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_order_qty: Mapped[float | None] = mapped_column(Float, nullable=True)


class BatchRow(Base):
    __tablename__ = "restaurant_batches"

    batch_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    ingredient_id: Mapped[str] = mapped_column(String(ID), index=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    quantity_remaining: Mapped[float] = mapped_column(Float)


class CustomerScoreRow(Base):
    """Every customer's scores from the latest customer model (list endpoint, push)."""

    __tablename__ = "restaurant_customer_scores"

    customer_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(100))
    segment: Mapped[str] = mapped_column(String(50), index=True)
    recency_days: Mapped[float] = mapped_column(Float)
    frequency: Mapped[float] = mapped_column(Float)
    monetary: Mapped[float] = mapped_column(Float)
    clv_12m: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    p_alive: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_visits_30d: Mapped[float | None] = mapped_column(Float, nullable=True)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_restaurant_customer_scores_p_alive", "p_alive"),)


SNAPSHOTS: dict[str, type[Base]] = {
    "menu_items": MenuRow,
    "recipes": RecipeRow,
    "inventory_items": IngredientRow,
    "inventory_batches": BatchRow,
}
MIRROR = (StationTimeRow, OrderLineRow, OrderRow, MenuRow, IngredientRow, BatchRow)
