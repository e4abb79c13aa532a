"""Kitchen and delivery feature rows: the one definition used to train and to serve.

Pure functions over pandas frames the store hands in (naive local times):

- ``orders``: ``order_id, ordered_at, ready_at (NaT allowed), channel,
  delivery_distance (NaN unless delivered), delivered_at (NaT allowed)``;
- ``lines``: ``order_id, item_id, size (None allowed), quantity, category``.

A training frame is built by calling the same row function (:func:`kitchen_row`,
:func:`delivery_row`) that serving calls, once per order, and the kitchen's load at an
order comes from the same counting code (:func:`_loads`) whether it is asked for every
order at once (:func:`load_features`) or for one moment (:func:`load_at`). So a row
cannot differ between training and serving by construction; a test checks it anyway.

>>> Load(open_tickets=2, items_in_queue=5).as_dict()["items_in_queue"]
5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
KITCHEN_TARGET = "ticket_minutes"
DELIVERY_TARGET = "delivery_minutes"
# Kept in the training frames for the time split (latest orders held out) and dropped
# as features: as numbers they would extrapolate (days since 1970) or memorise rows.
KEPT = ("order_id", "ordered_at")
# A ticket with no ready time counts as open for this long at most: past it, a missing
# timestamp is far likelier than a queue (and old gaps must not inflate every later load).
STALE_MINUTES = 120.0
WINDOWS = {"orders_last_15m": 15, "orders_last_60m": 60}
BasketMode = Literal["category", "item"]
_NS_PER_MINUTE = 60 * 10**9


@dataclass(frozen=True)
class Load:
    """The kitchen's load at one moment, from the orders placed strictly before it."""

    open_tickets: int = 0
    items_in_queue: int = 0
    orders_last_15m: int = 0
    orders_last_60m: int = 0

    def as_dict(self) -> dict[str, int]:
        """The four feature columns, by name."""
        return asdict(self)


class Line(NamedTuple):
    """One basket line: ``quantity`` of ``item_id`` in ``size`` (None: the menu has no sizes)."""

    item_id: str
    size: str | None
    quantity: int
    category: str | None = None


@dataclass(frozen=True)
class Basket:
    """An order's contents as counts: in total, per size, per category and per menu item."""

    n_items: int = 0
    by_size: Mapping[str, int] = field(default_factory=dict)
    by_category: Mapping[str, int] = field(default_factory=dict)
    by_item: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, lines: Iterable[Line | tuple[Any, ...]]) -> Basket:
        """Count a basket's lines (tuples in :class:`Line`'s field order are accepted).

        >>> Basket.of([Line("hawaiian", "L", 2, "classic"), Line("bbq", "S", 1, "chicken")]).n_items
        3
        """
        total = 0
        sizes: dict[str, int] = {}
        categories: dict[str, int] = {}
        items: dict[str, int] = {}
        for raw in lines:
            line = Line(*raw)
            q = int(line.quantity)
            total += q
            items[str(line.item_id)] = items.get(str(line.item_id), 0) + q
            if not _missing(line.size):
                sizes[str(line.size)] = sizes.get(str(line.size), 0) + q
            if not _missing(line.category):
                categories[str(line.category)] = categories.get(str(line.category), 0) + q
        return cls(total, sizes, categories, items)


def column_name(prefix: str, value: object) -> str:
    """A feature column for a size, category or item: ``prefix`` + a safe spelling.

    >>> column_name("n_cat_", "Veggie & more")
    'n_cat_Veggie_more'
    """
    return prefix + (re.sub(r"\W+", "_", str(value)).strip("_") or "blank")


def vocabulary(lines: pd.DataFrame, column: str) -> tuple[str, ...]:
    """The sorted distinct values of a lines column (sizes, categories, item ids)."""
    values = lines[column].dropna().astype(str) if column in lines else pd.Series(dtype=str)
    return tuple(sorted(values.unique()))


def vocabulary_from_columns(columns: Iterable[str], prefix: str) -> tuple[str, ...]:
    """The vocabulary a trained model's columns spell (``prefix`` removed): what serving
    passes back to the row functions, so a row has exactly the columns training had.

    >>> vocabulary_from_columns(["hour", "n_cat_classic", "n_cat_veggie"], "n_cat_")
    ('classic', 'veggie')
    """
    return tuple(c.removeprefix(prefix) for c in columns if c.startswith(prefix))


# ---- load ---------------------------------------------------------------------------------
def load_features(orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Every order's load at its own ``ordered_at`` (index and order of ``orders``).

    Only orders placed strictly before an order count: open tickets are those not ready
    yet at that moment, items in queue are their items, and arrivals are counted over
    the last 15 and 60 minutes. An order without ``ordered_at`` gets zeros.
    """
    placed = pd.to_datetime(orders["ordered_at"])
    ok = placed.notna().to_numpy()
    queries = placed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    counts = np.zeros((len(orders), 4), dtype=np.int64)
    if ok.any():
        counts[ok] = _loads(orders, lines, queries[ok])
    return pd.DataFrame(counts, index=orders.index, columns=list(Load.__dataclass_fields__))


def load_at(orders: pd.DataFrame, lines: pd.DataFrame, at: datetime | pd.Timestamp) -> Load:
    """The load at ``at`` (naive local, like ``ordered_at``): what serving asks the mirror."""
    query = np.array([pd.Timestamp(at).to_datetime64()], dtype="datetime64[ns]").astype(np.int64)
    return Load(*(int(v) for v in _loads(orders, lines, query)[0]))


def _loads(orders: pd.DataFrame, lines: pd.DataFrame, queries: np.ndarray) -> np.ndarray:
    """(len(queries), 4) loads at the given instants (int64 ns), in :class:`Load`'s order.

    A ticket is open at q when placed before q (t < q) and finished after it (end > q),
    with end = ready_at, or t + STALE_MINUTES when unknown, and never before t. As end ≥ t,
    "placed before and finished by q" = "finished by q" minus the zero-length tickets
    placed exactly at q; every count is then a binary search over sorted times.
    """
    placed = pd.to_datetime(orders["ordered_at"])
    keep = placed.notna().to_numpy()
    t = placed.to_numpy(dtype="datetime64[ns]").astype(np.int64)[keep]
    ready = pd.to_datetime(orders["ready_at"]).to_numpy(dtype="datetime64[ns]")[keep]
    stale = t + int(STALE_MINUTES * _NS_PER_MINUTE)
    end = np.where(np.isnat(ready), stale, ready.astype(np.int64))
    end = np.maximum(end, t)
    items = _items_per_order(orders, lines)[keep]
    by_t, by_end = np.argsort(t, kind="stable"), np.argsort(end, kind="stable")
    t_sorted, end_sorted = t[by_t], end[by_end]
    items_t = np.concatenate([[0], np.cumsum(items[by_t])])
    items_end = np.concatenate([[0], np.cumsum(items[by_end])])
    before = np.searchsorted(t_sorted, queries, side="left")
    finished = np.searchsorted(end_sorted, queries, side="right")
    zero = end == t  # tickets done the instant they were placed
    by_zero = np.argsort(t[zero], kind="stable")
    zero_t = t[zero][by_zero]
    zero_items = np.concatenate([[0], np.cumsum(items[zero][by_zero])])
    lo = np.searchsorted(zero_t, queries, side="left")
    hi = np.searchsorted(zero_t, queries, side="right")
    zero_n, zero_q = hi - lo, zero_items[hi] - zero_items[lo]
    out = np.empty((len(queries), 4), dtype=np.int64)
    out[:, 0] = before - (finished - zero_n)
    out[:, 1] = items_t[before] - (items_end[finished] - zero_q)
    for col, minutes in enumerate(WINDOWS.values(), start=2):
        since = np.searchsorted(t_sorted, queries - minutes * _NS_PER_MINUTE, side="left")
        out[:, col] = before - since
    return out


def _items_per_order(orders: pd.DataFrame, lines: pd.DataFrame) -> np.ndarray:
    """Items (Σ quantity) per order, in the order of ``orders``; 0 without lines."""
    which = pd.Index(orders["order_id"]).get_indexer(lines["order_id"])
    known = which >= 0
    quantity = lines["quantity"].to_numpy(dtype=np.int64)[known]
    return np.bincount(which[known], weights=quantity, minlength=len(orders)).astype(np.int64)


# ---- rows -----------------------------------------------------------------------------------
def time_columns(at_local: datetime | pd.Timestamp) -> tuple[float, str]:
    """(decimal hour, weekday ``Mon``–``Sun``) of a naive local time.

    >>> time_columns(pd.Timestamp("2015-01-02 18:45:36"))
    (18.76, 'Fri')
    """
    ts = pd.Timestamp(at_local)
    hour = ts.hour + ts.minute / 60 + ts.second / 3600 + ts.microsecond / 3.6e9
    return hour, DAYS[ts.dayofweek]


def kitchen_row(
    basket: Basket,
    load: Load,
    at_local: datetime | pd.Timestamp,
    categories: Sequence[str],
    sizes: Sequence[str],
    *,
    channel: str | None = None,
) -> dict[str, Any]:
    """The kitchen model's features for one order placed at ``at_local``.

    ``categories`` and ``sizes`` are the training vocabulary: one count column each
    (``n_cat_<c>``, ``n_size_<s>``), zero when the basket has none. A value outside it
    still counts in ``n_items``.
    """
    hour, day = time_columns(at_local)
    row: dict[str, Any] = {"hour": hour, "day": day, "n_items": int(basket.n_items)}
    row |= _counts("n_size_", basket.by_size, sizes)
    row |= _counts("n_cat_", basket.by_category, categories)
    row |= load.as_dict()
    row["channel"] = "unknown" if _missing(channel) else str(channel)
    return row


def delivery_row(
    hour: float,
    day: str,
    distance: float,
    basket: Basket,
    *,
    vocabulary: Sequence[str],
    mode: BasketMode = "category",
) -> dict[str, Any]:
    """The delivery model's features: when, how far, and what (counts per category, or
    per menu item with ``mode="item"`` as the book does, ``item_<id>``).

    Derived columns, each measured on the book's data (``benchmarks/restaurant_delivery.py``):

    - ``hour_of_week`` (0–168, Monday 00:00 = 0) lets one tree split reach a weekday's
      rush hour;
    - ``hour_<Day>`` (the hour on that weekday; None on the others, NaN in a frame),
      ``distance_x_hour`` and ``items_x_hour`` give the additive linear member the
      interactions trees find alone: a daily profile per weekday, and distance and
      basket costing more at busy hours (traffic, a full kitchen).
    """
    if day not in DAYS:
        raise ValueError(f"day must be one of {', '.join(DAYS)}, got {day!r}")
    row: dict[str, Any] = {
        "hour": float(hour),
        "day": day,
        "distance": float(distance),
        "n_items": int(basket.n_items),
    }
    if mode == "item":
        row |= _counts("item_", basket.by_item, vocabulary)
    else:
        row |= _counts("n_cat_", basket.by_category, vocabulary)
    row["hour_of_week"] = DAYS.index(day) * 24 + float(hour)
    row["distance_x_hour"] = float(distance) * float(hour)
    row["items_x_hour"] = int(basket.n_items) * float(hour)
    row |= {f"hour_{d}": (float(hour) if d == day else None) for d in DAYS}
    return row


def _counts(prefix: str, counts: Mapping[str, int], names: Sequence[str]) -> dict[str, int]:
    out = {column_name(prefix, n): 0 for n in names}
    for value, q in counts.items():
        key = column_name(prefix, value)
        if key in out:  # outside the training vocabulary: only n_items sees it
            out[key] += int(q)
    return out


# ---- training frames ------------------------------------------------------------------------
def kitchen_frame(orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order with a ready time: the kitchen features, ``ticket_minutes``, and
    ``order_id``/``ordered_at`` (for the time split, not features).

    The load uses every order, ready or not; rows whose ready time precedes the order
    (a clock error) have no usable target and are left out.
    """
    loads = load_features(orders, lines)
    categories, sizes = vocabulary(lines, "category"), vocabulary(lines, "size")
    baskets = _baskets(orders, lines)
    minutes = _minutes(orders["ordered_at"], orders["ready_at"])
    load_values = loads.to_numpy()
    placed, ids = _kept_columns(orders)
    channels: list[Any] = orders["channel"].tolist()
    rows = []
    for i, basket in enumerate(baskets):
        if not (minutes[i] >= 0):  # NaN (not ready, or no order time) or negative
            continue
        load = Load(*(int(v) for v in load_values[i]))
        row = kitchen_row(basket, load, placed[i], categories, sizes, channel=channels[i])
        rows.append(
            {**row, KITCHEN_TARGET: minutes[i], "order_id": ids[i], "ordered_at": placed[i]}
        )
    return pd.DataFrame(rows, columns=_columns(rows, KITCHEN_TARGET))


def delivery_frame(
    orders: pd.DataFrame, lines: pd.DataFrame, *, mode: BasketMode = "category"
) -> pd.DataFrame:
    """One row per delivered order with a distance: the delivery features,
    ``delivery_minutes``, and ``order_id``/``ordered_at`` (not features)."""
    words = vocabulary(lines, "item_id" if mode == "item" else "category")
    baskets = _baskets(orders, lines)
    minutes = _minutes(orders["ordered_at"], orders["delivered_at"])
    distance = pd.to_numeric(orders["delivery_distance"], errors="coerce").to_numpy(float)
    placed, ids = _kept_columns(orders)
    rows = []
    for i, basket in enumerate(baskets):
        if not (minutes[i] >= 0) or not np.isfinite(distance[i]):
            continue
        hour, day = time_columns(placed[i])
        row = delivery_row(hour, day, distance[i], basket, vocabulary=words, mode=mode)
        rows.append(
            {**row, DELIVERY_TARGET: minutes[i], "order_id": ids[i], "ordered_at": placed[i]}
        )
    return pd.DataFrame(rows, columns=_columns(rows, DELIVERY_TARGET))


def delivery_frame_from_modeldata(raw: pd.DataFrame) -> pd.DataFrame:
    """modeldata's ``deliveries`` (``time_to_delivery, hour, day, distance,
    item_01…item_27``) as :func:`delivery_frame` columns, in item mode as in the book."""
    item_columns = [c for c in raw.columns if re.fullmatch(r"item_\w+", str(c))]
    items = [c.removeprefix("item_") for c in item_columns]
    counts = raw[item_columns].to_numpy(dtype=np.int64)
    hours = raw["hour"].to_numpy(dtype=float)
    days: list[str] = raw["day"].astype(str).tolist()
    distances = raw["distance"].to_numpy(dtype=float)
    rows = []
    for i, day in enumerate(days):
        present = {items[j]: int(counts[i, j]) for j in np.flatnonzero(counts[i])}
        basket = Basket(int(counts[i].sum()), by_item=present)
        rows.append(
            delivery_row(hours[i], day, distances[i], basket, vocabulary=items, mode="item")
        )
    frame = pd.DataFrame(rows, index=raw.index)
    if "time_to_delivery" in raw:
        frame[DELIVERY_TARGET] = raw["time_to_delivery"].astype(float)
    return frame


def _baskets(orders: pd.DataFrame, lines: pd.DataFrame) -> list[Basket]:
    """Each order's basket, in the order of ``orders`` (an empty one when it has no lines)."""
    cols = ["order_id", "item_id", "size", "quantity", "category"]
    present = [c for c in cols if c in lines.columns]
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    frame = lines[present].reindex(columns=cols)
    for order_id, item, size, quantity, category in frame.itertuples(index=False):
        grouped.setdefault(order_id, []).append((item, size, quantity, category))
    return [Basket.of(grouped.get(o, ())) for o in orders["order_id"]]


def _minutes(start: pd.Series, end: pd.Series) -> np.ndarray:
    delta = pd.to_datetime(end) - pd.to_datetime(start)
    return np.asarray(delta.dt.total_seconds().to_numpy(dtype=float) / 60.0)


def _kept_columns(orders: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """(order times as Timestamps, order ids), as plain lists for the row loops."""
    return pd.to_datetime(orders["ordered_at"]).tolist(), orders["order_id"].tolist()


def _columns(rows: list[dict[str, Any]], target: str) -> list[str]:
    if rows:
        return list(rows[0])
    return [target, *KEPT]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA
