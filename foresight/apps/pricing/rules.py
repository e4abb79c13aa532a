"""Pure: a pricing rule turns a raw surge into the multiplier charged, with its reasons.

The order is fixed: the raw multiplier (1 + surge), then smoothing towards it from the
last multiplier quoted (``m = prev + α·(raw − prev)``), then the step limit (at most
``max_step`` from the last quote), then the caps (``[min, max]``, applied last so they
always hold). Each stage's effect is a factor, and everything is counted in integer
units of 1/10,000, so ``1 + Σ factors`` *is* the multiplier, exactly, in any order a
client adds them. The step limit holds whenever the last quote lies within the caps (a
rule change that moves the caps past it moves the price in one go: caps win).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from foresight.apps.pricing.surge import Surge
from foresight.platform.errors import InvalidInput

UNIT = 10_000  # a multiplier of 1.0 is 10,000 units
MAX_MULTIPLIER = 10.0
FACTORS = ("base", "normal", "demand", "supply", "smoothing", "step_limit", "cap")


@dataclass(frozen=True)
class Rule:
    """One region's and product's pricing rule (the admin API edits these)."""

    base_price: float
    min_multiplier: float = 1.0
    max_multiplier: float = 3.0
    max_step: float = 0.25
    smoothing: float = 0.5  # α: 1 follows the raw surge at once
    sensitivity: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.base_price) and 0 < self.base_price <= 1_000_000):
            problems.append("base_price must be > 0 and at most 1,000,000")
        lo, hi = self.min_multiplier, self.max_multiplier
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi <= MAX_MULTIPLIER):
            problems.append(f"need 0 < min_multiplier <= max_multiplier <= {MAX_MULTIPLIER:g}")
        if not (math.isfinite(self.max_step) and 0 < self.max_step <= MAX_MULTIPLIER):
            problems.append("max_step must be > 0")
        if not (math.isfinite(self.smoothing) and 0 < self.smoothing <= 1):
            problems.append("smoothing must be in (0, 1]")
        if not (math.isfinite(self.sensitivity) and 0 <= self.sensitivity <= 100):
            problems.append("sensitivity must be between 0 and 100")
        for name in ("min_multiplier", "max_multiplier", "max_step"):
            value = getattr(self, name)
            # Limits are exact in units of 1/10,000: a rounded cap could break itself.
            if math.isfinite(value) and abs(value * UNIT - round(value * UNIT)) > 1e-6:
                problems.append(f"{name} has at most 4 decimals")
        if problems:
            raise InvalidInput("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Priced:
    """The multiplier in units, the price and the factors (units) that sum to it."""

    units: int
    price: float
    factors: dict[str, int]

    @property
    def multiplier(self) -> float:
        return self.units / UNIT

    def factor_values(self) -> dict[str, float]:
        """The factors as multiplier fractions (``base`` is 1.0): they sum to it."""
        return {name: units / UNIT for name, units in self.factors.items()}


def to_units(value: float) -> int:
    return round(value * UNIT)


def apply_rule(raw: Surge, rule: Rule, previous_units: int | None) -> Priced:
    """The multiplier charged for ``raw`` under ``rule``, given the last quote's
    multiplier in units (None for a first quote: no smoothing, no step limit)."""
    normal, demand, supply = to_units(raw.normal), to_units(raw.demand), to_units(raw.supply)
    raw_units = UNIT + normal + demand + supply
    if previous_units is None:
        smoothed = stepped = raw_units
    else:
        smoothed = previous_units + round(rule.smoothing * (raw_units - previous_units))
        step = to_units(rule.max_step)
        stepped = min(max(smoothed, previous_units - step), previous_units + step)
    capped = min(max(stepped, to_units(rule.min_multiplier)), to_units(rule.max_multiplier))
    factors = {
        "base": UNIT,
        "normal": normal,
        "demand": demand,
        "supply": supply,
        "smoothing": smoothed - raw_units,
        "step_limit": stepped - smoothed,
        "cap": capped - stepped,
    }
    price = round(rule.base_price * capped / UNIT, 2)
    return Priced(units=capped, price=price, factors=factors)


def arm_of(experiment: str, user_id: str | None, weights: dict[str, int]) -> str:
    """The A/B arm of ``user_id``: a stable hash of ``experiment:user`` into 10,000
    buckets against the arms' weights (integer basis points summing to 10,000), the arms
    taken in name order so a store that reorders keys moves nobody. No user, no
    experiment or no arms is ``control``.

    >>> weights = {"control": 5000, "steep": 5000}
    >>> arm_of("e1", "u42", weights) in weights, arm_of("e1", None, weights)
    (True, 'control')
    """
    if user_id is None or not experiment or not weights:
        return "control"
    ok = all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in weights.values())
    if not ok or sum(weights.values()) != UNIT:
        raise InvalidInput("arm weights are integer basis points >= 0 summing to 10,000")
    digest = hashlib.blake2b(f"{experiment}:{user_id}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % UNIT
    edge = 0
    for arm in sorted(weights):
        edge += weights[arm]
        if bucket < edge:
            return arm
    raise AssertionError("unreachable: the weights sum to 10,000")
