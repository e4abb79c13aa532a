"""Reads from the restaurant management system (RMS), through a read-only source and the
table mapping: orders after a watermark, their lines, station times and payments, and the
small tables (menu, recipes, ingredients, batches) as whole snapshots.

Timestamps become UTC on read: timezone-aware values are converted, naive ones are taken
as the restaurant's local wall time (``FORESIGHT_RESTAURANT_TIMEZONE``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_, select

from foresight.apps.restaurant.mapping import RmsMapping, TableMap
from foresight.platform.sources import ReadOnlySource

IN_CHUNK = 1000  # ids per IN (...) list: far below every database's parameter limit


@dataclass
class Watermark:
    """Where the last sync stopped: the ordering column's raw value as the RMS returned
    it (compared in its own type, so equal timestamps are never skipped) and the id."""

    ts: Any = None
    order_id: Any = None

    def __post_init__(self) -> None:
        # numpy scalars would bind as BLOBs on SQLite (and compare above every integer).
        self.ts, self.order_id = _plain(self.ts), _plain(self.order_id)
        if isinstance(self.ts, pd.Timestamp):
            self.ts = self.ts.to_pydatetime()

    def dumps(self) -> str:
        ts = self.ts.isoformat() if isinstance(self.ts, datetime) else self.ts
        kind = "datetime" if isinstance(self.ts, datetime) else "raw"
        return json.dumps({"ts": ts, "kind": kind, "id": self.order_id})

    @classmethod
    def loads(cls, text: str | None) -> Watermark:
        if not text:
            return cls()
        data = json.loads(text)
        ts = data["ts"]
        if data.get("kind") == "datetime" and ts is not None:
            ts = datetime.fromisoformat(ts)
        return cls(ts, data.get("id"))

    @property
    def empty(self) -> bool:
        return self.ts is None


@dataclass
class RmsCheck:
    """What ``foresight restaurant check-rms`` prints."""

    url: str
    guarantees: dict[str, Any]
    problems: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    first_order: str | None = None
    last_order: str | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_utc(values: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Timestamps (text, naive or aware) as UTC; naive ones are local wall time in ``tz``.
    A wall time that does not exist (spring DST gap) moves forward; an ambiguous one
    (autumn) is taken as the first of the two."""
    if values.empty:
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=values.index)
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        return parsed.dt.tz_convert("UTC")
    local = parsed.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


class RmsReader:
    """Keyset reads of one RMS (one restaurant) through a :class:`ReadOnlySource`."""

    def __init__(
        self,
        source: ReadOnlySource,
        mapping: RmsMapping,
        tz: ZoneInfo,
        restaurant_id: str | None = None,
    ) -> None:
        self.source = source
        self.tz = tz
        self.restaurant_id = restaurant_id
        # Optional columns the RMS does not have are unmapped once, here.
        self.mapping = mapping
        self.mapping = mapping.without_missing_optional(self._columns())

    # ---- checks ----------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Mapping problems against the RMS's columns (empty when all is found)."""
        return self.mapping.check(self._columns())

    def _columns(self) -> dict[str, list[str]]:
        """The mapped tables' columns; every table's only when one is missing, so the
        problem can suggest the name the user meant (reflecting a large RMS is slow)."""
        names = [t.table for t in self.mapping.tables().values()]
        found = self.source.columns(names)
        return found if len(found) == len(set(names)) else self.source.columns()

    def check(self) -> RmsCheck:
        """Guarantees, mapping problems, row counts and the span of orders."""
        g = self.source.guarantees
        guarantees = {
            "dialect": g.dialect,
            "read_only": g.level,
            "session_read_only": g.session_read_only,
            "role_can_write": list(g.role_can_write),
            "statement_timeout_ms": g.statement_timeout_ms,
        }
        out = RmsCheck(self.source.display_url, guarantees, self.problems())
        if out.problems:
            return out
        for name, spec in self.mapping.tables().items():
            out.counts[name] = int(
                self.source.scalar(select(func.count()).select_from(spec.physical()))
            )
        o = self.mapping.orders
        span = self.source.frame(
            select(
                func.min(o.col("ordered_at")).label("a"), func.max(o.col("ordered_at")).label("b")
            )
        )
        if len(span) and span["a"].notna().all():
            first, last = to_utc(span["a"], self.tz), to_utc(span["b"], self.tz)
            out.first_order, out.last_order = first.iloc[0].isoformat(), last.iloc[0].isoformat()
        if o.updated_at is None:
            out.notes.append(
                "orders.updated_at is not mapped: edits older than the sync lookback are "
                "seen at the next full sync (sync --full)"
            )
        return out

    # ---- orders ------------------------------------------------------------------------------
    def _order_columns(self) -> list[Any]:
        o = self.mapping.orders
        return [o.col(k).label(k) for k in o.mapped_columns()]

    def _where_restaurant(self) -> list[Any]:
        o = self.mapping.orders
        if o.restaurant_id is not None and self.restaurant_id is not None:
            return [o.col("restaurant_id") == self.restaurant_id]
        return []

    def ordering_column(self) -> str:
        """``updated_at`` when mapped (edits are seen), else ``ordered_at``."""
        return "updated_at" if self.mapping.orders.updated_at is not None else "ordered_at"

    def orders_after(self, wm: Watermark, limit: int) -> pd.DataFrame:
        """Up to ``limit`` orders after the watermark, by (ordering column, id), raw."""
        o = self.mapping.orders
        ts, oid = o.col("ordered_at"), o.col("order_id")
        if o.updated_at is not None:  # an order never updated may have no updated_at
            ts = func.coalesce(o.col("updated_at"), ts)
        query = select(*self._order_columns(), ts.label("_wm_ts")).where(*self._where_restaurant())
        if not wm.empty:
            query = query.where(or_(ts > wm.ts, and_(ts == wm.ts, oid > wm.order_id)))
        return self.source.frame(query.order_by(ts, oid).limit(limit))

    def orders_since(self, since: Any) -> pd.DataFrame:
        """Orders placed at or after ``since``, given in the column's own type (the
        lookback re-read when the RMS has no ``updated_at``)."""
        o = self.mapping.orders
        query = select(*self._order_columns()).where(
            o.col("ordered_at") >= since, *self._where_restaurant()
        )
        return self.source.frame(query)

    def _by_ids(self, spec: TableMap, key: str, ids: Sequence[Any]) -> Iterator[pd.DataFrame]:
        cols = [spec.col(k).label(k) for k in spec.mapped_columns()]
        ids = list(ids)
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            yield self.source.frame(select(*cols).where(spec.col(key).in_(chunk)))

    def _concat(self, parts: Iterator[pd.DataFrame], spec: TableMap) -> pd.DataFrame:
        frames = [p for p in parts if len(p)]
        if not frames:
            return pd.DataFrame(columns=list(spec.mapped_columns()))
        return pd.concat(frames, ignore_index=True)

    def order_items(self, order_ids: Sequence[Any]) -> pd.DataFrame:
        spec = self.mapping.order_items
        return self._concat(self._by_ids(spec, "order_id", order_ids), spec)

    def station_times(self, order_item_ids: Sequence[Any]) -> pd.DataFrame:
        spec = self.mapping.order_item_stations
        if spec is None:
            return pd.DataFrame(
                columns=["order_item_id", "station_id", "started_at", "finished_at"]
            )
        return self._concat(self._by_ids(spec, "order_item_id", order_item_ids), spec)

    def payments(self, order_ids: Sequence[Any]) -> pd.DataFrame:
        spec = self.mapping.payments
        if spec is None:
            return pd.DataFrame(columns=["order_id", "amount"])
        return self._concat(self._by_ids(spec, "order_id", order_ids), spec)

    # ---- snapshots ---------------------------------------------------------------------------
    def snapshot(self, logical: str) -> pd.DataFrame | None:
        """A small table whole (menu, recipes, ingredients, batches); None if unmapped."""
        spec: TableMap | None = getattr(self.mapping, logical)
        if spec is None:
            return None
        cols = [spec.col(k).label(k) for k in spec.mapped_columns()]
        return self.source.frame(select(*cols))
