"""Queries and writes over the restaurant app's mirror in Foresight's own database (the
tables are in :mod:`tables`): what the sync stores, and what the models and answers read.

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
    delete,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.orm import Session

from foresight.apps.restaurant.customers import P_ALIVE_OF_TIER
from foresight.apps.restaurant.tables import (
    MIRROR,
    SNAPSHOTS,
    BatchRow,
    CustomerScoreRow,
    IngredientRow,
    MenuRow,
    OrderLineRow,
    OrderRow,
    RecipeRow,
    StationTimeRow,
    SyncStateRow,
)
from foresight.platform.db.base import Base
from foresight.platform.db.engine import Database


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

    def has_visits(self) -> bool:
        """Some mirrored order has a customer."""
        with self.db.session() as s:
            return (
                s.scalar(
                    select(OrderRow.order_id).where(OrderRow.customer_id.is_not(None)).limit(1)
                )
                is not None
            )

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
