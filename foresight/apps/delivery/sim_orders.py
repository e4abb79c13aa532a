"""Simulated orders, delivery windows and attempts, with their exact truth (plan §4.7).

Orders arrive ~ Poisson(λ_h / 7) a day from the join date (Sundays × 0.3). A window is 60,
120 or 240 min (P = .3/.5/.2), starts on the hour and lies within 08:00–21:00 local. The
customer picks it w.p. 0.4 (uniformly among windows inside a declared preferred window
when one fits, else ∝ mean P(home)² over the window), the carrier w.p. 0.6 (uniformly).
The attempt time is uniform within the window, so the window's truth — the mean
``p_true`` over its 15-minute slots — is exactly E[delivered | window]. The outcome comes
from the day's latents (``sim_truth.observe``), so it is Bernoulli(``p_true`` of the
attempt's slot). A failure is retried the next day w.p. 0.7 in a carrier-picked window of
the same length, at most 3 attempts per order. All attempts of one household-day share the
day's latents (``sim_truth.draw_latents``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from foresight.apps.delivery.sim_households import DAY_NAMES, Household
from foresight.apps.delivery.sim_truth import REASONS, DayPlans, draw_latents, observe

WINDOW_MINUTES = np.array([60, 120, 240])
WINDOW_P = (0.3, 0.5, 0.2)
CUSTOMER_PICKS = 0.4
WINDOW_HOURS = (8, 21)  # windows start on the hour and end by 21:00
SUNDAY_ORDERS = 0.3
RETRY = 0.7
MAX_ATTEMPTS = 3
_STARTS = np.arange(WINDOW_HOURS[0], WINDOW_HOURS[1])  # 13 candidate start hours
COLUMNS = (
    "window_start",
    "window_end",
    "attempted_at",
    "delivered",
    "reason",
    "p_true_window",
    "p_true_at_slot",
)


@dataclass(frozen=True)
class HouseholdDays:
    """One household's consecutive local days from its first active day.

    ``home`` and ``true`` are P(home) and p_true ``(n, 96)``; ``clock0`` ``(n,)`` is the
    UTC epoch second of each day's local 00:00 at the day's noon UTC offset, so
    ``clock0 + hour·3600`` is exact for every hour of 08–21 (DST switches at 02:00).
    """

    plans: DayPlans
    home: np.ndarray
    true: np.ndarray
    clock0: np.ndarray
    weekday: np.ndarray


def preferred_fit(preferences: dict[str, list[dict[str, object]]]) -> np.ndarray:
    """``(7, 3, 13)``: whether the window of length ``WINDOW_MINUTES[j]`` starting at
    ``_STARTS[s]`` lies inside a declared preferred window on that weekday."""
    fit = np.zeros((7, len(WINDOW_MINUTES), len(_STARTS)), dtype=bool)
    for entry in preferences.get("preferred", []):
        a, b = (int(str(entry[k])[:2]) + int(str(entry[k])[3:]) / 60 for k in ("start", "end"))
        inside = (a <= _STARTS) & (_STARTS + WINDOW_MINUTES[:, None] / 60 <= b)
        for name in entry["days"]:  # type: ignore[union-attr]
            fit[DAY_NAMES.index(str(name))] |= inside
    return fit


def _window_mean(
    cum: np.ndarray, day: np.ndarray, start: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """Mean over slots [4·start, 4·start + width) of a per-day cumulative sum ``(n, 97)``."""
    lo = 4 * start
    return (cum[day, lo + width] - cum[day, lo]) / width


def _customer_starts(
    days: HouseholdDays, fit: np.ndarray, day: np.ndarray, length: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Customer-picked start hours: uniform among fitting preferred windows, else
    ∝ mean P(home)² (with inverse-CDF draws from ``u``)."""
    minutes = WINDOW_MINUTES[length]
    valid = _STARTS[None, :] + minutes[:, None] // 60 <= WINDOW_HOURS[1]
    cum = np.concatenate([np.zeros((len(days.home), 1)), np.cumsum(days.home, axis=1)], axis=1)
    width = np.where(valid, minutes[:, None] // 15, 1)
    starts = np.where(valid, _STARTS[None, :], WINDOW_HOURS[0])
    mean = _window_mean(cum, day[:, None], starts, width)
    fits = fit[days.weekday[day], length] & valid
    weight = np.where(fits.any(axis=1)[:, None], fits, mean**2 + 1e-12) * valid
    cdf = np.cumsum(weight, axis=1)
    return _STARTS[(cdf < u[:, None] * cdf[:, -1:]).sum(axis=1)]


def _carrier_starts(length: np.ndarray, u: np.ndarray) -> np.ndarray:
    count = WINDOW_HOURS[1] - WINDOW_MINUTES[length] // 60 - WINDOW_HOURS[0] + 1
    return WINDOW_HOURS[0] + (u * count).astype(np.int64)


def household_attempts(
    h: Household,
    days: HouseholdDays,
    *,
    orders_rng: np.random.Generator,
    outcomes_rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Every attempt of household ``h`` over ``days``: the ``COLUMNS`` as arrays (times in
    UTC epoch seconds, ``reason`` coded as in ``sim_truth.REASONS``), in rounds: first
    attempts, then retries, then second retries."""
    n = len(days.weekday)
    rate = h.orders_per_week / 7 * np.where(days.weekday == 6, SUNDAY_ORDERS, 1.0)
    day = np.repeat(np.arange(n), orders_rng.poisson(rate))
    length = orders_rng.choice(len(WINDOW_MINUTES), len(day), p=WINDOW_P)
    by_customer = orders_rng.random(len(day)) < CUSTOMER_PICKS
    u = orders_rng.random(len(day))
    fit = preferred_fit(h.preferences)
    start = np.where(
        by_customer,
        _customer_starts(days, fit, day, length, u),
        _carrier_starts(length, u),
    )
    latents = draw_latents(days.plans, outcomes_rng)
    cum_true = np.concatenate([np.zeros((n, 1)), np.cumsum(days.true, axis=1)], axis=1)
    parts: list[dict[str, np.ndarray]] = []
    number = np.ones(len(day), dtype=np.int64)
    while len(day):
        minutes = WINDOW_MINUTES[length]
        offset = (orders_rng.random(len(day)) * minutes * 60).astype(np.int64)
        slot = 4 * start + offset // 900
        draws = observe(days.plans, latents, day, slot, outcomes_rng)
        begin = days.clock0[day] + start * 3600
        parts.append(
            {
                "window_start": begin,
                "window_end": begin + minutes * 60,
                "attempted_at": begin + offset,
                "delivered": draws.delivered,
                "reason": draws.reason,
                "p_true_window": _window_mean(cum_true, day, start, minutes // 15),
                "p_true_at_slot": days.true[day, slot],
            }
        )
        again = orders_rng.random(len(day)) < RETRY
        retry = ~draws.delivered & (number < MAX_ATTEMPTS) & (day + 1 < n) & again
        day, length, number = day[retry] + 1, length[retry], number[retry] + 1
        start = _carrier_starts(length, orders_rng.random(len(day)))
    if not parts:
        return {c: np.zeros(0) for c in COLUMNS}
    return {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}


def attempts_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Every household's attempt columns as one frame, oldest attempt first."""

    def col(name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in parts]) if parts else np.zeros(0)

    def stamp(name: str) -> pd.Series:
        return pd.Series(pd.to_datetime(col(name).astype(np.int64), unit="s", utc=True))

    frame = pd.DataFrame(
        {
            "customer_id": col("customer_id").astype(object),
            "attempted_at": stamp("attempted_at"),
            "window_start": stamp("window_start"),
            "window_end": stamp("window_end"),
            "delivered": col("delivered").astype(bool),
            "failure_reason": [REASONS[int(k)] for k in col("reason")],
            "p_true_window": col("p_true_window").astype(np.float64),
            "p_true_at_slot": col("p_true_at_slot").astype(np.float64),
        }
    )
    frame = frame.sort_values(["attempted_at", "customer_id"], kind="stable")
    return frame.reset_index(drop=True)
