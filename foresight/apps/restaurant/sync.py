"""Incremental sync from the RMS into the mirror: only orders after the last watermark
are read (keyset on the ordering column and id, so equal timestamps are never skipped),
their lines and station times with them; the small tables are replaced whole.

Without an ``updated_at`` column an edit is seen only if it falls inside the lookback
window re-read on every sync, or at the next full sync (``foresight restaurant sync
--full``). A changed mapping
forces a full re-sync. Each sync is one transaction on the mirror: a failure leaves the
mirror and the watermark as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from foresight.apps.restaurant.rms import RmsReader, Watermark, to_utc
from foresight.apps.restaurant.store import RestaurantStore
from foresight.platform.errors import InvalidInput


@dataclass
class SyncReport:
    """What one sync did."""

    full: bool
    rows: dict[str, int]
    removed: int
    watermark: str | None
    sync_id: int
    seconds: float
    touched_customers: set[str] = field(default_factory=set)
    first_touched: datetime | None = None  # earliest order time read (UTC)


def _ids(values: pd.Series) -> pd.Series:
    """RMS ids as text: integers without a trailing ``.0``."""
    if pd.api.types.is_float_dtype(values):
        values = values.astype("Int64")
    return values.astype(str)


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 60.0


class Sync:
    """Reads what is new in the RMS and writes it to the mirror."""

    def __init__(
        self,
        reader: RmsReader,
        store: RestaurantStore,
        *,
        batch_rows: int,
        lookback_hours: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.store = store
        self.batch_rows = batch_rows
        self.lookback = timedelta(hours=lookback_hours)
        self.clock = clock

    def run(self, *, full: bool = False) -> SyncReport:
        """One sync; ``full`` re-reads everything (also forced by a changed mapping)."""
        started = time.perf_counter()
        if problems := self.reader.problems():
            raise InvalidInput(
                "the RMS does not match the table mapping (FORESIGHT_RESTAURANT_RMS_MAPPING): "
                + "; ".join(problems),
                details=[{"field": "rms_mapping", "message": p} for p in problems],
            )
        state = self.store.sync_state()
        digest = self.reader.mapping.digest()
        full = full or state is None or state.mapping_digest != digest
        wm = Watermark() if full or state is None else Watermark.loads(state.watermark)
        raw, wm = self._read_orders(wm)
        if not full and not wm.empty and self.reader.ordering_column() == "ordered_at":
            raw = pd.concat([raw, self._lookback(wm)], ignore_index=True)
        raw = raw.drop_duplicates("order_id", keep="last") if len(raw) else raw
        orders, removed = self._orders(raw)
        lines = self._lines(self.reader.order_items(list(orders["_rms_id"])))
        stations = self._stations(self.reader.station_times(list(lines["_rms_id"])))
        payments = self.reader.payments(list(orders["_rms_id"])) if len(orders) else None
        orders = self._derive(orders, lines, stations, payments)
        snapshots = self._snapshots()
        now = self.clock()
        last_at = to_utc(pd.Series([wm.ts]), self.reader.tz).iloc[0] if not wm.empty else None
        state_values = {
            "watermark": wm.dumps() if not wm.empty else None,
            "watermark_at": None
            if last_at is None or pd.isna(last_at)
            else last_at.to_pydatetime(),
            "rows": (0 if full or state is None else state.rows) + len(orders),
            "mapping_digest": digest,
            "synced_at": now,
        }
        if full:
            state_values["full_synced_at"] = now
        sync_id = self.store.apply_sync(
            full=full,
            orders=orders.drop(columns=["_rms_id"]),
            lines=lines.drop(columns=["_rms_id"]),
            stations=stations,
            removed=removed,
            snapshots=snapshots,
            state=state_values,
        )
        customers = set(orders["customer_id"].dropna().astype(str)) if len(orders) else set()
        return SyncReport(
            full=full,
            rows={"orders": len(orders), "lines": len(lines), "stations": len(stations)}
            | {k: len(v) for k, v in snapshots.items()},
            removed=len(removed),
            watermark=state_values["watermark"],
            sync_id=sync_id,
            seconds=round(time.perf_counter() - started, 3),
            touched_customers=customers,
            first_touched=orders["ordered_at"].min().to_pydatetime() if len(orders) else None,
        )

    # ---- reading -------------------------------------------------------------------------------
    def _read_orders(self, wm: Watermark) -> tuple[pd.DataFrame, Watermark]:
        parts = []
        while True:
            batch = self.reader.orders_after(wm, self.batch_rows)
            if batch.empty:
                break
            parts.append(batch)
            wm = Watermark(batch["_wm_ts"].iloc[-1], batch["order_id"].iloc[-1])
            if len(batch) < self.batch_rows:
                break
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return frame.drop(columns=["_wm_ts"], errors="ignore"), wm

    def _lookback(self, wm: Watermark) -> pd.DataFrame:
        """Orders of the last ``lookback`` before the watermark, read again: without an
        ``updated_at`` an edit is seen only this way. The bound keeps the column's own
        type (text on SQLite, naive or zoned on PostgreSQL), so no zone shifts it."""
        last = wm.ts if isinstance(wm.ts, datetime) else pd.Timestamp(wm.ts).to_pydatetime()
        return self.reader.orders_since(last - self.lookback)

    # ---- shaping -------------------------------------------------------------------------------
    def _orders(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        columns = ["order_id", "ordered_at", "customer_id", "channel", "delivery_distance"]
        if raw.empty:
            empty = pd.DataFrame(columns=[*columns, "delivered_at", "_rms_id"])
            return empty, []
        spec = self.reader.mapping.orders
        removed: list[str] = []
        if "status" in raw and spec.exclude_status:
            dropped = raw["status"].isin(spec.exclude_status)
            removed = list(_ids(raw.loc[dropped, "order_id"]))
            raw = raw[~dropped]
        tz = self.reader.tz
        out = pd.DataFrame(
            {
                "_rms_id": raw["order_id"].to_numpy(),
                "order_id": _ids(raw["order_id"]).to_numpy(),
                "ordered_at": to_utc(raw["ordered_at"], tz).to_numpy(),
            }
        )
        out["customer_id"] = (
            _ids(raw["customer_id"]).where(raw["customer_id"].notna()).to_numpy()
            if "customer_id" in raw
            else None
        )
        out["channel"] = raw["channel"].to_numpy() if "channel" in raw else None
        out["delivery_distance"] = (
            pd.to_numeric(raw["delivery_distance"], errors="coerce").to_numpy()
            if "delivery_distance" in raw
            else np.nan
        )
        out["delivered_at"] = (
            to_utc(raw["delivered_at"], tz).to_numpy() if "delivered_at" in raw else pd.NaT
        )
        out["ordered_at"] = pd.to_datetime(out["ordered_at"], utc=True)
        out["delivered_at"] = pd.to_datetime(out["delivered_at"], utc=True)
        return out[out["ordered_at"].notna()].reset_index(drop=True), removed

    def _lines(self, raw: pd.DataFrame) -> pd.DataFrame:
        if raw.empty:
            return pd.DataFrame(
                columns=["_rms_id", "line_id", "order_id", "item_id", "size", "quantity", "revenue"]
            )
        quantity = pd.to_numeric(raw["quantity"], errors="coerce").fillna(0.0)
        price = pd.to_numeric(raw["unit_price"], errors="coerce") if "unit_price" in raw else np.nan
        size = raw["size"].where(raw["size"].notna(), None) if "size" in raw else None
        return pd.DataFrame(
            {
                "_rms_id": raw["order_item_id"].to_numpy(),
                "line_id": _ids(raw["order_item_id"]).to_numpy(),
                "order_id": _ids(raw["order_id"]).to_numpy(),
                "item_id": raw["item_id"].astype(str).to_numpy(),
                "size": size,
                "quantity": quantity.astype(float).to_numpy(),
                "revenue": (quantity * price).to_numpy(),
            }
        )

    def _stations(self, raw: pd.DataFrame) -> pd.DataFrame:
        columns = ["line_id", "station_id", "started_at", "finished_at"]
        if raw.empty:
            return pd.DataFrame(columns=columns)
        tz = self.reader.tz
        out = pd.DataFrame(
            {
                "line_id": _ids(raw["order_item_id"]).to_numpy(),
                "station_id": raw["station_id"].astype(str).to_numpy(),
                "started_at": to_utc(raw["started_at"], tz).to_numpy(),
                "finished_at": to_utc(raw["finished_at"], tz).to_numpy(),
            }
        )
        return out.dropna(subset=["started_at", "finished_at"]).reset_index(drop=True)

    def _derive(
        self,
        orders: pd.DataFrame,
        lines: pd.DataFrame,
        stations: pd.DataFrame,
        payments: pd.DataFrame | None,
    ) -> pd.DataFrame:
        """Size, revenue, kitchen-ready time and delivery minutes per order."""
        if orders.empty:
            return orders.assign(
                n_items=[], revenue=[], ready_at=[], ticket_minutes=[], delivery_minutes=[]
            )
        per_order = lines.groupby("order_id").agg(
            n_items=("quantity", "sum"), revenue=("revenue", "sum")
        )
        orders = orders.join(per_order, on="order_id")
        orders["n_items"] = orders["n_items"].astype(float).fillna(0.0)
        if payments is not None and len(payments) and "amount" in payments:
            paid = (
                pd.to_numeric(payments["amount"], errors="coerce")
                .groupby(_ids(payments["order_id"]))
                .sum()
            )
            missing = orders["revenue"].isna() | (orders["revenue"] == 0)
            orders.loc[missing, "revenue"] = orders.loc[missing, "order_id"].map(paid)
        orders["revenue"] = orders["revenue"].astype(float).fillna(0.0)
        if len(stations):
            line_order = lines.set_index("line_id")["order_id"]
            done = pd.to_datetime(stations["finished_at"], utc=True)
            ready = done.groupby(stations["line_id"].map(line_order)).max()
            orders["ready_at"] = orders["order_id"].map(ready)
        else:
            orders["ready_at"] = pd.NaT
        orders["ready_at"] = pd.to_datetime(orders["ready_at"], utc=True)
        orders["ticket_minutes"] = _minutes(orders["ready_at"], orders["ordered_at"])
        orders["delivery_minutes"] = _minutes(orders["delivered_at"], orders["ordered_at"])
        return orders

    def _snapshots(self) -> dict[str, pd.DataFrame]:
        tz = self.reader.tz
        out: dict[str, pd.DataFrame] = {}
        menu = self.reader.snapshot("menu_items")
        if menu is not None:
            out["menu_items"] = pd.DataFrame(
                {
                    "item_id": menu["item_id"].astype(str),
                    "size": menu["size"].fillna("").astype(str) if "size" in menu else "",
                    "name": menu["name"].astype(str),
                    "category": menu["category"].astype(str),
                    "price": pd.to_numeric(menu["price"], errors="coerce")
                    if "price" in menu
                    else np.nan,
                }
            ).drop_duplicates(["item_id", "size"])
        recipes = self.reader.snapshot("recipes")
        if recipes is not None:
            out["recipes"] = pd.DataFrame(
                {
                    "item_id": recipes["item_id"].astype(str),
                    "size": recipes["size"].fillna("").astype(str) if "size" in recipes else "",
                    "ingredient_id": recipes["ingredient_id"].astype(str),
                    "quantity": pd.to_numeric(recipes["quantity"], errors="coerce").fillna(0.0),
                    "source": "rms",
                }
            ).drop_duplicates(["item_id", "size", "ingredient_id"])
        ingredients = self.reader.snapshot("inventory_items")
        if ingredients is not None:
            frame = pd.DataFrame(
                {
                    "ingredient_id": ingredients["ingredient_id"].astype(str),
                    "name": ingredients["name"].astype(str),
                    "unit": ingredients["unit"].astype(str),
                }
            )
            for target, source in (
                ("lead_time_days", "supplier_lead_time_days"),
                ("shelf_life_days", "shelf_life_days"),
                ("pack_size", "pack_size"),
                ("min_order_qty", "min_order_qty"),
            ):
                frame[target] = (
                    pd.to_numeric(ingredients[source], errors="coerce")
                    if source in ingredients
                    else np.nan
                )
            out["inventory_items"] = frame.drop_duplicates("ingredient_id")
        batches = self.reader.snapshot("inventory_batches")
        if batches is not None:
            out["inventory_batches"] = pd.DataFrame(
                {
                    "batch_id": _ids(batches["batch_id"]),
                    "ingredient_id": batches["ingredient_id"].astype(str),
                    "received_at": to_utc(batches["received_at"], tz)
                    if "received_at" in batches
                    else pd.NaT,
                    "expires_at": to_utc(batches["expires_at"], tz),
                    "quantity_remaining": pd.to_numeric(
                        batches["quantity_remaining"], errors="coerce"
                    ).fillna(0.0),
                }
            ).dropna(subset=["expires_at"])
        return out
