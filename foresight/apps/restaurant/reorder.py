"""Inventory arithmetic, pure: ingredient usage from the demand forecast × recipes, safety
stock, reorder point, order-up-to level and quantity, days of cover and expiring batches.

Units: every quantity is in the ingredient's own unit (g, ml, pieces: whatever its recipes
and batches use); every duration is in days. A daily usage sequence starts with the first
day the stock on hand must serve (``today``) and counts calendar days, so a closed day is
a 0 in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from foresight.platform.errors import InvalidInput

Usage = Sequence[float] | np.ndarray
TOLERANCE = 1e-9  # float noise below this (in the ingredient's unit) is no quantity at all


@dataclass(frozen=True)
class ErrorQuantiles:
    """Quantiles of the cumulative usage error Σ₁ᵏ(actual − forecast) over the next k days.

    ``values[k][i]`` is the quantile at ``levels[i]`` (ascending) for horizon k days, in the
    ingredient's unit. Levels in between are interpolated; past the largest stored horizon
    the error grows with √k.
    """

    levels: tuple[float, ...]
    values: Mapping[int, tuple[float, ...]]

    def at(self, days: float, level: float) -> float:
        """The cumulative-error quantile for ``days`` days at ``level``."""
        if days <= 0 or not self.values:
            return 0.0
        horizons = sorted(self.values)
        per_horizon = [float(np.interp(level, self.levels, self.values[k])) for k in horizons]
        longest = horizons[-1]
        if days > longest:
            return per_horizon[-1] * math.sqrt(days / longest)
        # Zero error at zero days anchors horizons shorter than the first stored one.
        return float(np.interp(days, [0, *horizons], [0.0, *per_horizon]))


@dataclass(frozen=True)
class NormalRule:
    """The rule fallback, from recent usage: a day uses ``mean`` on average (the usage to
    assume when there is no forecast) and the daily error has standard deviation ``sd``."""

    mean: float
    sd: float


@dataclass(frozen=True)
class Batch:
    """Stock received together. ``expires_at`` is its last day of use (a local "use by" date)."""

    batch_id: str
    quantity: float
    expires_at: date


@dataclass(frozen=True)
class ExpiryWarning:
    """A batch of which ``unusable`` (of ``quantity``) will expire before it can be used."""

    batch_id: str
    expires_at: date
    quantity: float
    unusable: float


@dataclass(frozen=True)
class Advice:
    """What to do about one ingredient today. Quantities in ``unit``, times in days."""

    ingredient_id: str
    unit: str
    on_hand: float
    usable_on_hand: float
    daily_usage: float
    days_of_cover: float | None
    lead_time_days: float
    safety_stock: float
    reorder_point: float
    order_up_to: float
    reorder_now: bool
    suggested_order_qty: float
    expiring: list[ExpiryWarning] = field(default_factory=list)


def usage_forecast(
    item_daily: pd.DataFrame, shares: pd.DataFrame, recipes: pd.DataFrame
) -> pd.DataFrame:
    """Ingredient usage per day: Σ_item forecast[item, day] · Σ_size share · quantity.

    ``item_daily``: item_id, day, quantity (items forecast). ``shares``: item_id, size,
    share. ``recipes``: item_id, size, ingredient_id, quantity (per item of that size).
    An item without shares is split evenly over the sizes its recipe lists; an item
    without a recipe uses nothing. Returns ingredient_id, day, quantity.
    """
    per_item = _per_item_usage(shares, recipes)
    items = item_daily[["item_id", "day", "quantity"]].rename(columns={"quantity": "items"})
    merged = items.merge(per_item, on="item_id")
    merged["quantity"] = merged["items"] * merged["per_item"]
    out = merged.groupby(["ingredient_id", "day"])["quantity"].sum().reset_index()
    return out.sort_values(["ingredient_id", "day"], ignore_index=True)


def _per_item_usage(shares: pd.DataFrame, recipes: pd.DataFrame) -> pd.DataFrame:
    """item_id, ingredient_id, per_item: the usage of one item, sizes weighted by share."""
    sizes = recipes[["item_id", "size"]].drop_duplicates()
    given = shares[["item_id", "size", "share"]]
    missing = sizes[~sizes["item_id"].isin(given["item_id"])].copy()
    missing["share"] = 1.0 / missing.groupby("item_id")["size"].transform("count")
    weights = pd.concat([given, missing], ignore_index=True)
    weights["share"] = weights["share"] / weights.groupby("item_id")["share"].transform("sum")
    rows = recipes.merge(weights, on=["item_id", "size"])
    rows["per_item"] = rows["quantity"] * rows["share"]
    return rows.groupby(["item_id", "ingredient_id"])["per_item"].sum().reset_index()


def safety_stock(
    uncertainty: ErrorQuantiles | NormalRule, *, lead_days: float, service_level: float
) -> float:
    """Stock held against usage above forecast over ``lead_days``, never negative.

    Empirical: the ``service_level`` quantile of the cumulative ``lead_days``-day error.
    Normal rule: z·σ·√L with z = Φ⁻¹(service_level); pass as ``lead_days`` the days that
    carry usage, because a closed day adds no uncertainty.
    """
    if not 0 < service_level < 1:
        raise InvalidInput(
            f"service level {service_level} must be between 0 and 1, e.g. 0.95",
            details=[{"field": "service_level", "message": "between 0 and 1"}],
        )
    _check_days(lead_days, "lead_time_days")
    if isinstance(uncertainty, NormalRule):
        value = float(norm.ppf(service_level)) * uncertainty.sd * math.sqrt(lead_days)
    else:
        value = uncertainty.at(lead_days, service_level)
    # A forecast that runs high would give a negative quantile; we never plan below it.
    return max(value, 0.0)


def reorder_point(usage: Usage, lead_days: float, ss: float) -> float:
    """Σ₁ᴸ u + SS: what the lead time will use, plus safety stock."""
    return cumulative_usage(usage, lead_days) + ss


def order_up_to(usage: Usage, lead_days: float, review_days: float, ss_lr: float) -> float:
    """Σ₁ᴸ⁺ᴿ u + SS over L+R: enough to last until the order after next can arrive."""
    return cumulative_usage(usage, lead_days + review_days) + ss_lr


def order_quantity(
    order_up_to_level: float, position: float, *, pack_size: float | None, moq: float | None
) -> float:
    """max(S − position, 0), rounded up to whole packs and to at least the MOQ (in packs)."""
    need = max(order_up_to_level - position, 0.0)
    if need <= TOLERANCE:
        return 0.0
    need = max(need, moq or 0.0)
    if pack_size:
        # The tolerance keeps 2000.0000001 from becoming three packs of 1000.
        return math.ceil(need / pack_size - TOLERANCE) * pack_size
    return need


def cumulative_usage(usage: Usage, days: float) -> float:
    """Usage over the first ``days`` days (a fraction takes that share of the next day)."""
    _check_days(days, "days")
    whole = math.floor(days)
    values = _extended(usage, whole + 1)
    return float(values[:whole].sum() + (days - whole) * values[whole])


def days_of_cover(usable: float, usage_by_day: Usage) -> float | None:
    """Days until ``usable`` stock first falls short of usage; None when nothing is used.

    Fractional: a day's usage is spread evenly over it. A closed day (usage 0) passes
    without using stock, so it extends cover. Past the forecast its last week repeats;
    when that week uses nothing, stock that outlasts the forecast has no end (None).
    """
    usage = np.asarray(usage_by_day, dtype=float)
    cycle = usage[-7:]
    if not (usage > TOLERANCE).any():
        return None
    remaining, days = max(usable, 0.0), 0.0
    for u in usage:
        if u > remaining + TOLERANCE:
            return days + remaining / u
        remaining, days = remaining - u, days + 1
    if cycle.sum() <= TOLERANCE:
        return None
    # Whole cycles at once, then day by day, so a large stock does not loop for long.
    cycles = math.floor(remaining / cycle.sum())
    remaining, days = remaining - cycles * cycle.sum(), days + len(cycle) * cycles
    for u in np.tile(cycle, 2):
        if u > remaining + TOLERANCE:
            return days + remaining / u
        remaining, days = remaining - u, days + 1
    return days


def expiring(batches: Sequence[Batch], usage_by_day: Usage, today: date) -> list[ExpiryWarning]:
    """Batches that will expire before use, consuming FIFO by ``expires_at``.

    ``usage_by_day[0]`` is today's usage. Each day uses the earliest-expiring batches still
    good that day; what is left of a batch after its last day is unusable. A batch already
    past its date is wholly unusable.
    """
    left = {b.batch_id: float(b.quantity) for b in batches}
    order = sorted(batches, key=lambda b: (b.expires_at, b.batch_id))
    if not order:
        return []
    horizon = max((order[-1].expires_at - today).days + 1, 0)
    usage = _extended(usage_by_day, horizon)
    for offset in range(horizon):
        day, need = today + timedelta(days=offset), float(usage[offset])
        for batch in order:
            if need <= TOLERANCE:
                break
            if batch.expires_at >= day and left[batch.batch_id] > 0:
                taken = min(need, left[batch.batch_id])
                left[batch.batch_id] -= taken
                need -= taken
    return [
        ExpiryWarning(b.batch_id, b.expires_at, float(b.quantity), left[b.batch_id])
        for b in order
        if left[b.batch_id] > TOLERANCE
    ]


def advise(
    *,
    ingredient_id: str,
    unit: str,
    batches: Sequence[Batch],
    usage_by_day: Usage,
    today: date,
    uncertainty: ErrorQuantiles | NormalRule,
    lead_time_days: float,
    review_days: float,
    service_level: float,
    pack_size: float | None = None,
    moq: float | None = None,
) -> Advice:
    """Reorder advice for one ingredient from its stock, forecast usage and uncertainty.

    Inventory position is the usable stock on hand: what will expire unused is left out,
    and stock already on order is unknown. Reorder when the position is below the reorder
    point; then order up to S. ``daily_usage`` is the mean over the next 7 days. With no
    usage forecast over L+R days, nothing is ordered.
    """
    _check_days(review_days, "review_days")
    warnings = expiring(batches, usage_by_day, today)
    on_hand = float(sum(b.quantity for b in batches))
    usable = on_hand - sum(w.unusable for w in warnings)
    ss = _safety(uncertainty, usage_by_day, lead_time_days, service_level)
    ss_lr = _safety(uncertainty, usage_by_day, lead_time_days + review_days, service_level)
    rop = reorder_point(usage_by_day, lead_time_days, ss)
    level = order_up_to(usage_by_day, lead_time_days, review_days, ss_lr)
    used = cumulative_usage(usage_by_day, lead_time_days + review_days) > TOLERANCE
    reorder_now = used and usable < rop
    return Advice(
        ingredient_id=ingredient_id,
        unit=unit,
        on_hand=on_hand,
        usable_on_hand=usable,
        daily_usage=cumulative_usage(usage_by_day, 7) / 7,
        days_of_cover=days_of_cover(usable, usage_by_day),
        lead_time_days=lead_time_days,
        safety_stock=ss,
        reorder_point=rop,
        order_up_to=level,
        reorder_now=reorder_now,
        suggested_order_qty=(
            order_quantity(level, usable, pack_size=pack_size, moq=moq) if reorder_now else 0.0
        ),
        expiring=warnings,
    )


def _safety(
    uncertainty: ErrorQuantiles | NormalRule, usage: Usage, days: float, service_level: float
) -> float:
    if isinstance(uncertainty, NormalRule):
        # Only days with usage add variance under the rule (a closed day has none).
        whole = math.floor(days)
        used = _extended(usage, whole + 1) > TOLERANCE
        days = float(np.count_nonzero(used[:whole])) + (days - whole) * float(used[whole])
    return safety_stock(uncertainty, lead_days=max(days, 0.0), service_level=service_level)


def _extended(usage: Usage, n: int) -> np.ndarray:
    """The first ``n`` days of usage; past its end the last (up to) 7 days repeat."""
    values = np.asarray(usage, dtype=float)
    if len(values) >= n:
        return values[:n]
    if len(values) == 0:
        return np.zeros(n)
    # The weekly pattern repeats, so closed weekdays stay closed past the forecast.
    tail = values[-7:]
    repeats = math.ceil((n - len(values)) / len(tail))
    return np.concatenate([values, np.tile(tail, repeats)])[:n]


def _check_days(days: float, name: str) -> None:
    if not math.isfinite(days) or days < 0:
        raise InvalidInput(
            f"{name} must be 0 or more days, not {days}",
            details=[{"field": name, "message": "must be 0 or more"}],
        )
