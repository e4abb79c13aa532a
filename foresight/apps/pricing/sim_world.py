"""The simulator's world: rain and announced events that move demand and supply.

Frozen constants (docs/pricing.md):

- **Rain** is a two-state Markov chain per region and hour: a dry hour turns wet with
  ``RAIN_START``, a wet one dries with ``RAIN_STOP`` (about 15 % of hours wet, in spells of
  about three hours). A wet hour multiplies demand by ``RAIN_DEMAND`` and supply by
  ``RAIN_SUPPLY``.
- **Events** (a concert, a match): 0–3 a week per region, starting between 12:00 and 22:00,
  lasting 2–3 hours, announced ``NOTICE_HOURS`` before they start (the app sees an
  ``external_signal`` then). When one ends, demand rises by ``1 + A·sin(π·u)`` over the next
  30–90 minutes (``u`` from 0 to 1), ``A`` uniform in ``EVENT_LIFT``.

Everything is drawn from ``numpy.random.default_rng([seed, region_index, stream])``, so a
region's world does not depend on how many regions are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from foresight.platform.errors import InvalidInput

RAIN_START, RAIN_STOP = 0.06, 0.35
RAIN_DEMAND, RAIN_SUPPLY = 1.3, 0.9
EVENTS_PER_WEEK = (0, 3)
EVENT_HOURS = (12, 22)  # an event starts in this local hour range …
EVENT_LENGTH_MIN = (120, 180)  # … and lasts this long
NOTICE_HOURS = 2
AFTER_MIN = (30, 90)
EVENT_LIFT = (0.5, 1.5)


@dataclass(frozen=True)
class WorldEvent:
    """An announced event: minutes from the simulation's start, and its lift."""

    start: int
    end: int
    after: int  # minutes of raised demand after ``end``
    lift: float

    @property
    def announced(self) -> int:
        return self.start - NOTICE_HOURS * 60


def rain_hours(region: int, days: int, seed: int) -> np.ndarray:
    """``(days × 24,)`` bool: whether each hour is wet."""
    if days < 1:
        raise InvalidInput(f"days must be at least 1, got {days}")
    rng = np.random.default_rng([seed, region, 1])
    # The first state first, then one draw an hour: a shorter run is a prefix of a longer.
    state = bool(rng.random() < RAIN_START / (RAIN_START + RAIN_STOP))  # the chain's mix
    u = rng.random(days * 24)
    wet = np.zeros(days * 24, dtype=bool)
    for h in range(days * 24):
        state = (u[h] >= RAIN_STOP) if state else (u[h] < RAIN_START)
        wet[h] = state
    return wet


def world_events(region: int, start: date, days: int, seed: int) -> list[WorldEvent]:
    """The region's events over ``days`` from ``start`` (a Monday or not: weeks count
    from ``start``)."""
    rng = np.random.default_rng([seed, region, 2])
    out: list[WorldEvent] = []
    for week in range(-(-days // 7)):
        for _ in range(int(rng.integers(EVENTS_PER_WEEK[0], EVENTS_PER_WEEK[1] + 1))):
            day = week * 7 + int(rng.integers(0, 7))
            begin = day * 1440 + int(rng.integers(EVENT_HOURS[0] * 60, EVENT_HOURS[1] * 60))
            length = int(rng.integers(EVENT_LENGTH_MIN[0], EVENT_LENGTH_MIN[1] + 1))
            after = int(rng.integers(AFTER_MIN[0], AFTER_MIN[1] + 1))
            lift = float(rng.uniform(*EVENT_LIFT))
            if begin + length + after <= days * 1440:
                out.append(WorldEvent(begin, begin + length, after, lift))
    return sorted(out, key=lambda e: e.start)


def demand_multiplier(wet: np.ndarray, events: list[WorldEvent], days: int) -> np.ndarray:
    """``(days × 1440,)``: rain's and the events' effect on demand, minute by minute."""
    out = np.where(np.repeat(wet, 60), RAIN_DEMAND, 1.0)
    for e in events:
        u = (np.arange(e.after) + 0.5) / e.after
        out[e.end : e.end + e.after] *= 1.0 + e.lift * np.sin(np.pi * u)
    return out[: days * 1440]


def supply_multiplier(wet: np.ndarray, days: int) -> np.ndarray:
    """``(days × 1440,)``: fewer drivers out in the rain."""
    return np.where(np.repeat(wet, 60), RAIN_SUPPLY, 1.0)[: days * 1440]
