"""Pure: how far demand outruns supply, and how much of the surge each one explains.

Pressure is forecast demand over capacity (drivers available × trips each can make in
15 minutes), capped at ``max_pressure``. The raw surge is

    g(D, C) = sensitivity · max(0, min(D / C, max_pressure) − 1)

so a region with more capacity than demand has none. Against the region's *normal*
demand and capacity (its 7-day level times the hour's seasonality), the surge splits
into what is normal for this hour (``g(D̄, C̄)``) plus the exact two-input Shapley shares
of demand and supply in the rest: each is the mean of its marginal effects in both
orders, so ``normal + demand + supply == g(D, C)`` always.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from foresight.platform.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Surge:
    """The raw surge (``total``, a multiplier minus 1) and its three parts."""

    normal: float
    demand: float
    supply: float

    @property
    def total(self) -> float:
        return self.normal + self.demand + self.supply


def pressure(demand: float, capacity: float, max_pressure: float) -> float:
    """Demand over capacity, capped; no capacity means the cap while anyone asks."""
    if capacity <= 0:
        return max_pressure if demand > 0 else 0.0
    return min(demand / capacity, max_pressure)


def surge(
    *,
    demand: float,
    capacity: float,
    normal_demand: float,
    normal_capacity: float,
    sensitivity: float,
    max_pressure: float = 5.0,
) -> Surge:
    """The raw surge of (``demand``, ``capacity``) split against the normal pair."""
    values = (demand, capacity, normal_demand, normal_capacity, sensitivity, max_pressure)
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise InvalidInput(f"surge inputs must be finite and >= 0, got {values}")

    def g(d: float, c: float) -> float:
        return sensitivity * max(0.0, pressure(d, c, max_pressure) - 1.0)

    base = g(normal_demand, normal_capacity)
    both = g(demand, capacity)
    only_demand = g(demand, normal_capacity)
    only_supply = g(normal_demand, capacity)
    demand_share = 0.5 * ((only_demand - base) + (both - only_supply))
    supply_share = 0.5 * ((only_supply - base) + (both - only_demand))
    return Surge(normal=base, demand=demand_share, supply=supply_share)
