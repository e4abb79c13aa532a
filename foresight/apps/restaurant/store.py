"""The restaurant app's tables in Foresight's own database: a mirror of what it read from
the RMS (orders with derived times, lines, station times, menu, recipes, ingredients,
batches), the sync watermarks, and the queries the models and answers use.

The RMS itself is never written; everything here is Foresight's copy, so predictions keep
working while the RMS is away.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Float,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.apps.restaurant.customers import P_ALIVE_OF_TIER
from foresight.platform.db.base import Base, UTCDateTime
from foresight.platform.db.engine import Database

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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for an executemany insert: NaN/NaT become None, timestamps Python datetimes."""
    out = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
        for row in out.to_dict("records")
    ]


class RestaurantStore:
    """Queries and writes over the mirror, each in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- sync state --------------------------------------------------------------------------
    def sync_state(self, source: str = "orders") -> SyncStateRow | None:
        with self.db.session() as s:
            return s.get(SyncStateRow, source)

    def data_version(self) -> int:
        """The latest sync's id (0 before any): every cached answer carries it."""
        with self.db.session() as s:
            return int(s.scalar(select(func.max(SyncStateRow.sync_id))) or 0)

    # ---- writes ------------------------------------------------------------------------------
    def apply_sync(
        self,
        *,
        full: bool,
        orders: pd.DataFrame,
        lines: pd.DataFrame,
        stations: pd.DataFrame,
        removed: Sequence[str],
        snapshots: dict[str, pd.DataFrame],
        state: dict[str, Any],
    ) -> int:
        """Write one sync in one transaction: a full sync replaces the mirror; otherwise
        the given orders replace their earlier copies (so a re-read is idempotent) and
        ``removed`` orders (cancelled since) go. Returns the new sync id."""
        with self.db.session() as s:
            if full:
                for table in MIRROR:
                    s.execute(delete(table))
                s.execute(delete(RecipeRow).where(RecipeRow.source == "rms"))
            else:
                gone = list(orders["order_id"]) + list(removed)
                self._delete_orders(s, gone)
            for frame, row in (
                (orders, OrderRow),
                (lines, OrderLineRow),
                (stations, StationTimeRow),
            ):
                if len(frame):
                    s.execute(insert(row), _records(frame))
            changed = full or bool(len(orders) or len(removed))
            for name, frame in snapshots.items():
                row = SNAPSHOTS[name]
                mine = RecipeRow.source == "rms" if row is RecipeRow else true()
                if _unchanged(s, row, frame, mine):
                    continue  # the menu or stock as it was: nothing to drop
                changed = True
                s.execute(delete(row).where(mine))
                if len(frame):
                    s.execute(insert(row), _records(frame))
            current = s.get(SyncStateRow, "orders")
            # The sync id versions every cached answer: it moves only when data changed.
            sync_id = (current.sync_id if current else 0) + int(changed)
            if current is None:
                current = SyncStateRow(source="orders")
                s.add(current)
            for key, value in state.items():
                setattr(current, key, value)
            current.sync_id = sync_id
            return sync_id

    @staticmethod
    def _delete_orders(s: Session, order_ids: Sequence[str]) -> None:
        ids = list(order_ids)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            lines = select(OrderLineRow.line_id).where(OrderLineRow.order_id.in_(chunk))
            s.execute(delete(StationTimeRow).where(StationTimeRow.line_id.in_(lines)))
            s.execute(delete(OrderLineRow).where(OrderLineRow.order_id.in_(chunk)))
            s.execute(delete(OrderRow).where(OrderRow.order_id.in_(chunk)))

    def import_recipes(self, frame: pd.DataFrame) -> int:
        """Replace the imported recipes (for an RMS without a recipes table)."""
        with self.db.session() as s:
            s.execute(delete(RecipeRow).where(RecipeRow.source == "import"))
            s.execute(insert(RecipeRow), _records(frame.assign(source="import")))
        return len(frame)

    # ---- reads -------------------------------------------------------------------------------
    def has_orders(self) -> bool:
        with self.db.session() as s:
            return s.scalar(select(OrderRow.order_id).limit(1)) is not None

    def span(self) -> tuple[datetime | None, datetime | None]:
        """First and last ``ordered_at`` in the mirror (UTC)."""
        with self.db.session() as s:
            row = s.execute(
                select(func.min(OrderRow.ordered_at), func.max(OrderRow.ordered_at))
            ).one()
        first, last = row
        return _utc(first), _utc(last)

    def orders(self, since: datetime | None = None) -> pd.DataFrame:
        """Mirrored orders (UTC times), optionally from ``since`` on."""
        query = select(*OrderRow.__table__.columns)
        if since is not None:
            query = query.where(OrderRow.ordered_at >= since)
        return _times(self.db.frame(query), ("ordered_at", "ready_at", "delivered_at"))

    def lines(self, since: datetime | None = None) -> pd.DataFrame:
        """Order lines with the order's time and the item's category."""
        query = select(
            OrderLineRow.order_id,
            OrderRow.ordered_at,
            OrderLineRow.item_id,
            OrderLineRow.size,
            OrderLineRow.quantity,
            OrderLineRow.revenue,
        ).join(OrderRow, OrderRow.order_id == OrderLineRow.order_id)
        if since is not None:
            query = query.where(OrderRow.ordered_at >= since)
        frame = _times(self.db.frame(query), ("ordered_at",))
        menu = self.menu()
        categories = menu.drop_duplicates("item_id").set_index("item_id")["category"]
        frame["category"] = frame["item_id"].map(categories).fillna("other")
        return frame

    def visits(self, customer_id: str | None = None) -> pd.DataFrame:
        """Orders with a customer: customer_id, ordered_at (UTC), revenue."""
        query = select(OrderRow.customer_id, OrderRow.ordered_at, OrderRow.revenue).where(
            OrderRow.customer_id.is_not(None)
        )
        if customer_id is not None:
            query = query.where(OrderRow.customer_id == customer_id)
        return _times(self.db.frame(query), ("ordered_at",))

    def write_scores(self, frame: pd.DataFrame) -> None:
        """Replace every customer's scores (one transaction)."""
        with self.db.session() as s:
            s.execute(delete(CustomerScoreRow))
            if len(frame):
                s.execute(insert(CustomerScoreRow), _records(frame))

    def scores(
        self,
        *,
        segment: str | None,
        churn_tier: str | None,
        min_clv: float | None,
        order_by: str,
        limit: int,
        offset: int,
    ) -> tuple[pd.DataFrame, int]:
        """A page of stored customer scores and how many match in all."""
        where = []
        if segment is not None:
            where.append(CustomerScoreRow.segment == segment)
        if min_clv is not None:
            where.append(CustomerScoreRow.clv_12m >= min_clv)
        if churn_tier is not None:
            low, high = P_ALIVE_OF_TIER[churn_tier]
            p = CustomerScoreRow.p_alive
            where += [p > low, p <= high]
        order = {
            "clv": CustomerScoreRow.clv_12m.desc(),
            "p_alive": CustomerScoreRow.p_alive.asc(),
        }[order_by]
        with self.db.session() as s:
            total = int(
                s.scalar(select(func.count()).select_from(CustomerScoreRow).where(*where)) or 0
            )
        query = (
            select(*CustomerScoreRow.__table__.columns)
            .where(*where)
            .order_by(order, CustomerScoreRow.customer_id)
            .limit(limit)
            .offset(offset)
        )
        return _times(self.db.frame(query), ("scored_at",)), total

    def menu(self) -> pd.DataFrame:
        return self.db.frame(
            select(*MenuRow.__table__.columns).order_by(MenuRow.item_id, MenuRow.size)
        )

    def recipes(self) -> pd.DataFrame:
        return self.db.frame(select(*RecipeRow.__table__.columns))

    def ingredients(self) -> pd.DataFrame:
        return self.db.frame(select(*IngredientRow.__table__.columns))

    def batches(self) -> pd.DataFrame:
        frame = self.db.frame(select(*BatchRow.__table__.columns))
        return _times(frame, ("received_at", "expires_at"))


def _unchanged(s: Session, row: type[Base], frame: pd.DataFrame, where: Any) -> bool:
    """Whether a snapshot table already holds exactly these rows."""
    columns = [c.name for c in row.__table__.columns if c.name in frame.columns]
    held = s.execute(select(*(row.__table__.c[c] for c in columns)).where(where)).all()
    new = [tuple(r[c] for c in columns) for r in _records(frame[columns])]
    return sorted(map(_key, held)) == sorted(map(_key, new))


def _key(values: Sequence[Any]) -> str:
    """A row as comparable text: numbers as floats, times in UTC, None as None."""
    out = []
    for v in values:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            v = float(v)
        elif isinstance(v, datetime):
            v = _utc(v)
        out.append(v)
    return repr(out)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _times(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for name in columns:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
