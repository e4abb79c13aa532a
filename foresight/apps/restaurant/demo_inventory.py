"""Documented simulator of the demo RMS's stock: batches with expiry dates, ordered by a
daily review and consumed first-in-first-out by the real pizza lines × the recipes (see
``demo_sim`` for the conventions of the frames passed in). The parameters below are the
ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

REVIEW_HOUR = 22
ARRIVAL_HOUR = 9
ORDER_UP_TO_FACTOR = 1.2
SAFETY_DAYS = 2


@dataclass(frozen=True)
class InventorySimulation:
    """Batches as of the end of the data, and the daily truth behind them."""

    batches: pd.DataFrame  # batch_id, ingredient_id, received_at, expires_at, quantity_*
    daily: pd.DataFrame  # day, ingredient_id, used, wasted, unmet, ordered, on_hand


def simulate_inventory(
    lines: pd.DataFrame,
    recipes: pd.DataFrame,
    ingredients: pd.DataFrame,
    rng: np.random.Generator,
) -> InventorySimulation:
    """Stock per ingredient under a daily order-up-to policy, consumed by the real lines.

    Each calendar day of the data, per ingredient (``ingredients`` gives
    ``supplier_lead_time_days`` L, ``shelf_life_days``, ``pack_size``, ``min_order_qty``):

    - 09:00: batches past ``expires_at`` are discarded (wasted), then the day's arrival
      becomes a batch with ``expires_at`` = arrival + shelf life.
    - Usage is exact: every line's quantity × its recipe grams, consumed first-in
      first-out at the order's time; what stock cannot cover is counted as unmet (stock
      never goes negative).
    - 22:00 review: order-up-to level 1.2 × mean daily usage over the trailing 168 h ×
      (L + 2); when on hand plus on order is below it, the gap is ordered in whole packs
      and at least the minimum order, arriving at 09:00 L days later.
    - Day one opens with one batch per ingredient of the first week's level × U(0.8, 1.2)
      (the only use of ``rng``).

    ``batches`` is the state at the end of the data (arrivals after it are not in it;
    used-up and discarded batches stay, with ``quantity_remaining`` 0).
    """
    when = lines["ordered_at"]
    first = when.min().normalize()
    n_days = (when.max().normalize() - first).days + 1
    use = lines[["item_id", "size", "quantity", "ordered_at"]].merge(
        recipes.rename(columns={"quantity": "grams"}), on=["item_id", "size"]
    )
    keys = ingredients["ingredient_id"].tolist()
    col = use["ingredient_id"].map({k: i for i, k in enumerate(keys)}).to_numpy()
    day = ((use["ordered_at"] - first).dt.days).to_numpy()
    late = (use["ordered_at"].dt.hour >= REVIEW_HOUR).to_numpy()
    grams = (use["quantity"] * use["grams"]).to_numpy(dtype=float)
    usage = np.zeros((2, n_days, len(keys)))
    np.add.at(usage, (late.astype(int), day, col), grams)

    batches, daily = [], []
    for i, row in enumerate(ingredients.to_dict("records")):
        b, d = _run_stock(
            usage[0, :, i],
            usage[1, :, i],
            lead=int(row["supplier_lead_time_days"]),
            shelf=int(row["shelf_life_days"]),
            pack=float(row["pack_size"]),
            moq=float(row["min_order_qty"]),
            rng=rng,
        )
        batches += [(row["ingredient_id"], *x) for x in b]
        daily += [(k, row["ingredient_id"], *x) for k, x in enumerate(d)]

    frame = pd.DataFrame(batches, columns=["ingredient_id", "day", "received", "remaining"])
    frame = frame.sort_values(["day", "ingredient_id"], ignore_index=True)
    received = first + pd.to_timedelta(frame["day"], unit="D") + pd.Timedelta(hours=ARRIVAL_HOUR)
    shelf = frame["ingredient_id"].map(dict(zip(keys, ingredients["shelf_life_days"], strict=True)))
    out = pd.DataFrame(
        {
            "batch_id": np.arange(1, len(frame) + 1),
            "ingredient_id": frame["ingredient_id"],
            "received_at": received,
            "expires_at": received + pd.to_timedelta(shelf, unit="D"),
            "quantity_received": frame["received"],
            "quantity_remaining": frame["remaining"],
        }
    )
    cols = ["day", "ingredient_id", "used", "wasted", "unmet", "ordered", "on_hand"]
    truth = pd.DataFrame(daily, columns=cols)
    truth["day"] = (first + pd.to_timedelta(truth["day"], unit="D")).dt.date
    return InventorySimulation(batches=out, daily=truth)


def _run_stock(
    before: np.ndarray,
    after: np.ndarray,
    *,
    lead: int,
    shelf: int,
    pack: float,
    moq: float,
    rng: np.random.Generator,
) -> tuple[list[tuple[int, float, float]], list[tuple[float, float, float, float, float]]]:
    """One ingredient's days (usage before and after the 22:00 review): batches as
    (day, received, remaining) and the daily truth rows."""
    full = before + after
    horizon = ORDER_UP_TO_FACTOR * (lead + SAFETY_DAYS) / 7.0
    # Usage in the 168 h before each 22:00 review: today until 22:00, the six days
    # before in full, and the late hours of the day a week ago.
    run = np.concatenate([[0.0], np.cumsum(full)])
    days = np.arange(len(full))
    trailing = before + run[days] - run[np.maximum(days - 6, 0)]
    trailing[7:] += after[:-7]

    def packs(qty: float) -> float:
        return max(math.ceil(qty / pack) * pack, moq)

    first = packs(horizon * full[:7].sum() * rng.uniform(0.8, 1.2))
    batches: list[list[float]] = [[0, first, first]]
    pending: dict[int, float] = {}
    head, on_hand, on_order = 0, first, 0.0
    rows: list[tuple[float, float, float, float, float]] = []
    for d, (need_before, need_after, level) in enumerate(
        zip(before.tolist(), after.tolist(), (horizon * trailing).tolist(), strict=True)
    ):
        if d in pending:
            qty = pending.pop(d)
            batches.append([d, qty, qty])
            on_hand, on_order = on_hand + qty, on_order - qty
        wasted = 0.0
        while head < len(batches) and batches[head][0] + shelf <= d:
            wasted += batches[head][2]
            batches[head][2] = 0.0
            head += 1
        used_before, head = _consume(batches, head, need_before)
        on_hand -= wasted + used_before
        ordered = packs(level - on_hand - on_order) if level > on_hand + on_order else 0.0
        if ordered:
            pending[d + lead] = pending.get(d + lead, 0.0) + ordered
            on_order += ordered
        used_after, head = _consume(batches, head, need_after)
        on_hand = max(on_hand - used_after, 0.0)
        used = used_before + used_after
        rows.append((used, wasted, need_before + need_after - used, ordered, on_hand))
    return [(int(b[0]), b[1], b[2]) for b in batches], rows


def _consume(batches: list[list[float]], head: int, need: float) -> tuple[float, int]:
    """Take ``need`` grams oldest batch first; returns what was taken and the new head."""
    taken = 0.0
    while need - taken > 1e-9 and head < len(batches):
        take = min(batches[head][2], need - taken)
        batches[head][2] -= take
        taken += take
        if batches[head][2] <= 1e-9:
            batches[head][2] = 0.0
            head += 1
    return taken, head
