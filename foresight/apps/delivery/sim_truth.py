"""The simulator's exact truth per 15-minute slot, and a sampler of the same latents.

A local day has 96 slots; slot k is the clock interval [k·15 min, (k+1)·15 min) and its
state is that at the slot's midpoint. For one household-day:

    away(t)      = Σ_b π_b · (F_L,b(t) − F_R,b(t))          (blocks never overlap)
    p_routine(t) = 1 − away(t)
    p_home(t)    = 0.02 on a vacation day, else
                   (1 − q(t)) · p_routine(t) · 0.1^n(t) + q(t) · 0.02
    p_success(t) = 1 − (1 − p_home(t) · a(t)) · (1 − c)
    p_true(t)    = ε + (1 − 2ε) · p_success(t)

``F`` is the CDF of a normal truncated at ±2σ, ``q(t)`` the out-day probability inside
09–21 (0 outside), ``n(t)`` the number of calendar events covering t (each attended w.p.
0.9, away from 15 min before to 15 min after), ``a(t)`` the answer rate with its quirks,
``c`` the zone's concierge rate and ε the recording noise. ``draw_latents`` and
``observe`` draw the latents themselves (block presence, truncated-normal leave and
return, out-day, attendance; then answer, concierge and flip per observation), so the mean
outcome converges to ``p_true``: the Monte Carlo check in tests/apps/delivery/test_sim.py.
Everything is batched over days: arrays have a leading axis of n household-days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

SLOTS = 96
MIDPOINTS = (np.arange(SLOTS) + 0.5) / 4.0  # hours
OUT_DAY_SLOTS = (36, 84)  # an out-day is away 09:00–21:00 …
OUT_DAY_HOME = 0.02  # … home w.p. 0.02 per slot
VACATION_HOME = 0.02
EVENT_ATTEND = 0.9
NOISE = 0.02  # ε: an outcome is recorded wrong w.p. 0.02
NO_ACCESS, REFUSED = 0.03, 0.01  # shares of failures recorded with these reasons
TRUNCATE = 2.0  # leave and return jitter is truncated at ±2σ
_LO, _HI = float(ndtr(-TRUNCATE)), float(ndtr(TRUNCATE))
_OUT = np.zeros(SLOTS, dtype=bool)
_OUT[slice(*OUT_DAY_SLOTS)] = True

# Failure reasons, coded; ``REASONS[code]`` (0: delivered).
REASONS = (None, "not_home", "no_answer", "no_access", "refused")


@dataclass(frozen=True)
class DayPlans:
    """The latent structure of n household-days.

    ``blocks`` ``(n, B, 5)``: (leave, σ, return, σ, π) in hours, padded with π = 0;
    ``events`` ``(n, E, 2)``: slot ranges [first, last) an attended event covers, padded
    with (0, 0); ``answer`` ``(n, 96)``; ``q`` ``(n,)`` out-day probability; ``vacation``
    ``(n,)``; ``concierge``: the zone's acceptance rate.
    """

    blocks: np.ndarray
    events: np.ndarray
    answer: np.ndarray
    q: np.ndarray
    vacation: np.ndarray
    concierge: float

    def __len__(self) -> int:
        return len(self.q)

    def take(self, rows: np.ndarray) -> DayPlans:
        """The plans of ``rows`` (repeats allowed: a Monte Carlo draws one day n times)."""
        return DayPlans(
            self.blocks[rows],
            self.events[rows],
            self.answer[rows],
            self.q[rows],
            self.vacation[rows],
            self.concierge,
        )


def _cdf(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Truncated-normal CDFs at the slot midpoints, ``(*mean.shape, 96)``; σ = 0 is a step."""
    t = MIDPOINTS
    fixed = (sd == 0)[..., None]
    z = (t - mean[..., None]) / np.where(fixed, 1.0, sd[..., None])
    out = (z >= TRUNCATE).astype(np.float64)
    # Only the few slots within ±2σ need the normal CDF (this is the simulator's hot spot).
    inside = (np.abs(z) < TRUNCATE) & ~fixed
    out[inside] = (ndtr(z[inside]) - _LO) / (_HI - _LO)
    return np.where(fixed, t >= mean[..., None], out)


def event_count(events: np.ndarray) -> np.ndarray:
    """How many events cover each slot, ``(n, 96)``."""
    n, e = events.shape[:2]
    diff = np.zeros((n, SLOTS + 1), dtype=np.int64)
    rows = np.repeat(np.arange(n), e)
    np.add.at(diff, (rows, events[..., 0].ravel()), 1)
    np.add.at(diff, (rows, events[..., 1].ravel()), -1)
    return np.cumsum(diff[:, :SLOTS], axis=1)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and each row's index among them (``np.unique(axis=0)`` is slow)."""
    bits = np.ascontiguousarray(rows, dtype=np.float64).view(np.uint64)
    key = bits[:, 0].copy()
    for k in range(1, bits.shape[1]):
        key = key * np.uint64(0x9E3779B97F4A7C15) ^ bits[:, k]
    _, first, which = np.unique(key, return_index=True, return_inverse=True)
    kinds = rows[first]
    if not np.array_equal(kinds[which], rows):  # a hash collision: do it the slow way
        kinds, which = np.unique(rows, axis=0, return_inverse=True)
    return kinds, which.reshape(-1)


def p_home(plans: DayPlans) -> np.ndarray:
    """P(home) per day and slot, ``(n, 96)``."""
    b = plans.blocks
    # Blocks repeat from day to day (only π moves with the weather): CDFs once per kind.
    kinds, which = _unique_rows(b[..., :4].reshape(-1, 4))
    inside = _cdf(kinds[:, 0], kinds[:, 1]) - _cdf(kinds[:, 2], kinds[:, 3])
    away = b[..., 4, None] * inside[which.reshape(b.shape[:2])]
    routine = 1.0 - away.sum(axis=1)
    attended = (1.0 - EVENT_ATTEND) ** event_count(plans.events)
    q = np.where(_OUT, plans.q[:, None], 0.0)
    home = (1.0 - q) * routine * attended + q * OUT_DAY_HOME
    return np.where(plans.vacation[:, None], VACATION_HOME, home)


def p_true(plans: DayPlans, home: np.ndarray | None = None) -> np.ndarray:
    """P(recorded delivered) per day and slot ``(n, 96)``; ``home`` is ``p_home(plans)``."""
    home = p_home(plans) if home is None else home
    success = 1.0 - (1.0 - home * plans.answer) * (1.0 - plans.concierge)
    return NOISE + (1.0 - 2.0 * NOISE) * success


@dataclass(frozen=True)
class Latents:
    """One draw of each day's latents: block presence ``(n, B)``, leave and return times
    ``(n, B)``, out-day ``(n,)`` and event attendance ``(n, E)``."""

    present: np.ndarray
    leave: np.ndarray
    back: np.ndarray
    out: np.ndarray
    attend: np.ndarray


def draw_latents(plans: DayPlans, rng: np.random.Generator) -> Latents:
    """Draw every day's latents once; all observations of a day share them."""
    b = plans.blocks
    present = rng.random(b.shape[:2]) < b[..., 4]
    # Inverse-CDF draws on (Φ(−2), Φ(2)): a normal truncated at ±2σ (σ = 0: the mean).
    leave = b[..., 0] + b[..., 1] * ndtri(rng.uniform(_LO, _HI, b.shape[:2]))
    back = b[..., 2] + b[..., 3] * ndtri(rng.uniform(_LO, _HI, b.shape[:2]))
    out = rng.random(len(plans)) < plans.q
    attend = rng.random(plans.events.shape[:2]) < EVENT_ATTEND
    return Latents(present, leave, back, out, attend)


@dataclass(frozen=True)
class Draws:
    """Observed outcomes ``(k,)``: recorded ``delivered``, the latent ``home`` and the
    failure ``reason`` code (0 when delivered; see ``REASONS``)."""

    delivered: np.ndarray
    home: np.ndarray
    reason: np.ndarray


def observe(
    plans: DayPlans,
    latents: Latents,
    rows: np.ndarray,
    slots: np.ndarray,
    rng: np.random.Generator,
) -> Draws:
    """Outcomes of k attempts: day ``rows[i]`` at slot ``slots[i]``.

    Answer, concierge, flip and the recorded reason are drawn per attempt.
    """
    rows, slots = np.asarray(rows, dtype=np.int64), np.asarray(slots, dtype=np.int64)
    t = MIDPOINTS[slots][:, None]
    in_block = latents.present[rows] & (latents.leave[rows] <= t) & (t < latents.back[rows])
    ev = plans.events[rows]
    covered = (ev[..., 0] <= slots[:, None]) & (slots[:, None] < ev[..., 1])
    away = in_block.any(axis=1) | (latents.attend[rows] & covered).any(axis=1)
    u = rng.random((6, len(rows)))
    home = np.where(latents.out[rows] & _OUT[slots], u[0] < OUT_DAY_HOME, ~away)
    home = np.where(plans.vacation[rows], u[1] < VACATION_HOME, home)
    answered = u[2] < plans.answer[rows, slots]
    success = (home & answered) | (u[3] < plans.concierge)
    delivered = success ^ (u[4] < NOISE)
    reason = np.where(home, 2, 1)  # no_answer if home (a flipped success too), else not_home
    reason = np.where(u[5] < NO_ACCESS, 3, np.where(u[5] < NO_ACCESS + REFUSED, 4, reason))
    return Draws(delivered, home, np.where(delivered, 0, reason))
