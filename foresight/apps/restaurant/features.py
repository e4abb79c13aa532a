"""Pure feature code for demand: orders and items per hour or day on the restaurant's
local wall time, per total, category and item, zero-filled, plus the shares the
top-down item forecasts use.

Series ids: ``orders:total``, ``items:total``, ``items:category:<c>`` and (daily only)
``items:item:<id>``. Times arrive as UTC and are turned into local wall time here; the
spring DST hour that does not exist is a zero (and closed) slot, the autumn hour that
happens twice is summed into one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foresight.apps.restaurant.hours import OpeningHours

FREQ = {"hour": "h", "day": "D"}
GROUP_OF_PREFIX = {"orders:total": "total", "items:total": "total"}


def series_uid(measure: str, *, category: str | None = None, item_id: str | None = None) -> str:
    """The series id of a measure (orders or items) for the total, a category or an item."""
    if item_id is not None:
        return f"items:item:{item_id}"
    if category is not None:
        return f"items:category:{category}"
    return f"{measure}:total"


def group_of(uid: str) -> str:
    """Ensemble weights and intervals are chosen per group: total, category, item."""
    return GROUP_OF_PREFIX.get(uid) or uid.split(":")[1]


def local(stamps: pd.Series, tz: ZoneInfo) -> pd.Series:
    """UTC timestamps as naive local wall time."""
    return pd.to_datetime(stamps, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def last_complete_slot(
    last_order_local: pd.Timestamp, now_local: pd.Timestamp, freq: str
) -> pd.Timestamp:
    """The last slot the data fully covers: the whole day of the latest order once that
    day is over, else the slot before ``now`` (a running hour or day is incomplete)."""
    step = pd.Timedelta(hours=1) if freq == "h" else pd.Timedelta(days=1)
    day_end = last_order_local.normalize() + pd.Timedelta(days=1) - step
    return min(day_end, now_local.floor(freq) - step)


@dataclass
class DemandData:
    """The series one demand training uses, and what answers need beside them."""

    hourly: pd.DataFrame  # long: unique_id, ds, y
    daily: pd.DataFrame
    groups: dict[str, str]
    items: dict[str, dict[str, str]]  # item_id -> {name, category}
    hour_profile: dict[str, list[float]]  # item_id -> 168 shares (Mon 00:00 first)
    hourly_until: pd.Timestamp
    daily_until: pd.Timestamp
    fingerprint: str
    # Past days without a single order: closed (a holiday, a refit), whatever the opening
    # hours say, so their zeros do not teach the models a collapse in demand.
    dark_days: list[pd.Timestamp] = field(default_factory=list)


def _grid(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(first, last, freq=freq)


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    frame = (
        wide.rename_axis("ds")
        .reset_index()
        .melt(id_vars="ds", var_name="unique_id", value_name="y")
    )
    return frame[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"]).reset_index(drop=True)


def wide_counts(
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    tz: ZoneInfo,
    freq: str,
    *,
    per_item: bool,
) -> pd.DataFrame:
    """Slots (local) × series: orders and items in total, per category and (optionally)
    per item; only slots with at least one order appear (zero-filling comes after)."""
    order_slot = local(orders["ordered_at"], tz).dt.floor(freq)
    parts = {"orders:total": order_slot.value_counts()}
    line_slot = local(lines["ordered_at"], tz).dt.floor(freq)
    qty = lines["quantity"].astype(float)
    parts["items:total"] = qty.groupby(line_slot).sum()
    frame = pd.DataFrame(parts)
    by_cat = qty.groupby([line_slot, lines["category"].astype(str)]).sum().unstack(fill_value=0.0)
    by_cat.columns = [series_uid("items", category=c) for c in by_cat.columns]
    frame = frame.join(by_cat, how="outer")
    if per_item:
        by_item = (
            qty.groupby([line_slot, lines["item_id"].astype(str)]).sum().unstack(fill_value=0.0)
        )
        by_item.columns = [series_uid("items", item_id=i) for i in by_item.columns]
        frame = frame.join(by_item, how="outer")
    return frame.fillna(0.0).sort_index()


def hour_of_week_profile(
    lines: pd.DataFrame, tz: ZoneInfo, opening: OpeningHours, weeks: int = 8
) -> dict[str, list[float]]:
    """Per item, the share of each hour of the week (Mon 00:00 = 0) in its weekly sales
    over the last ``weeks`` weeks, normalised over the hours of each weekday: an item's
    daily forecast × the share of an hour in that weekday gives its hourly forecast."""
    if lines.empty:
        return {}
    at = local(lines["ordered_at"], tz)
    recent = at >= at.max() - pd.Timedelta(weeks=weeks)
    at, part = at[recent], lines[recent]
    how = (at.dt.dayofweek * 24 + at.dt.hour).to_numpy()
    qty = part["quantity"].astype(float).to_numpy()
    out: dict[str, list[float]] = {}
    total = np.bincount(how, weights=qty, minlength=168).reshape(7, 24)
    for item, idx in part.groupby(part["item_id"].astype(str)).indices.items():
        grid = np.bincount(how[idx], weights=qty[idx], minlength=168).reshape(7, 24)
        # Shrink an item's own profile toward the restaurant's: a rarely sold item has too
        # few sales to place each hour by itself.
        k = 20.0
        shares = []
        for day in range(7):
            own, all_ = grid[day], total[day]
            base = all_ / all_.sum() if all_.sum() > 0 else np.full(24, 1 / 24)
            mixed = (own + k * base) / (own.sum() + k)
            shares.extend(mixed.tolist())
        out[item] = [round(s, 6) for s in shares]
    return out


def demand_data(
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    menu: pd.DataFrame,
    *,
    tz: ZoneInfo,
    opening: OpeningHours,
    now: datetime,
    hourly_weeks: int,
) -> DemandData:
    """Hourly and daily series, zero-filled on local time, up to the last complete slot."""
    now_local = pd.Timestamp(now).tz_convert(tz).tz_localize(None)
    last_local = local(orders["ordered_at"], tz).max()
    first_local = local(orders["ordered_at"], tz).min()
    daily_until = last_complete_slot(last_local, now_local, "D")
    hourly_until = last_complete_slot(last_local, now_local, "h")
    daily = wide_counts(orders, lines, tz, "D", per_item=True)
    daily = daily.reindex(_grid(first_local.normalize(), daily_until, "D"), fill_value=0.0)
    hourly_first = max(
        first_local.normalize(), (hourly_until - pd.Timedelta(weeks=hourly_weeks)).ceil("D")
    )
    hourly = wide_counts(orders, lines, tz, "h", per_item=False)
    hourly = hourly.reindex(_grid(hourly_first, hourly_until, "h"), fill_value=0.0)
    items = {
        str(r.item_id): {"name": str(r.name), "category": str(r.category)}
        for r in menu.drop_duplicates("item_id").itertuples()
    }
    for uid in daily.columns:  # items sold but missing from the menu still forecast
        if uid.startswith("items:item:") and uid[11:] not in items:
            items[uid[11:]] = {"name": uid[11:], "category": "other"}
    dark = daily.index[daily["orders:total"] == 0] if "orders:total" in daily else []
    long_h, long_d = _long(hourly), _long(daily)
    groups = {uid: group_of(uid) for uid in daily.columns}
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(long_d, index=False).to_numpy().tobytes()
    ).hexdigest()[:16]
    return DemandData(
        hourly=long_h,
        daily=long_d,
        groups=groups,
        items=items,
        hour_profile=hour_of_week_profile(lines, tz, opening),
        hourly_until=hourly_until,
        daily_until=daily_until,
        fingerprint=digest,
        dark_days=list(dark),
    )


def menu_items(menu: pd.DataFrame) -> list[dict[str, Any]]:
    """The mirrored menu as one entry per item: name, category, sizes, price per size."""
    items = []
    for item_id, rows in menu.groupby("item_id", sort=True):
        first = rows.iloc[0]
        items.append(
            {
                "item_id": str(item_id),
                "name": str(first["name"]),
                "category": str(first["category"]),
                "sizes": [s for s in rows["size"].astype(str) if s],
                "prices": {
                    (str(r.size) or "-"): (None if pd.isna(r.price) else float(r.price))
                    for r in rows.itertuples()
                },
            }
        )
    return items
