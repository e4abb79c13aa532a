"""Simulated customers who own real pizza orders (the demo's ground truth for CLV).

The pizza orders are real but anonymous. ``simulate_customers`` invents a customer base
whose behaviour follows the BG/NBD and Gamma-Gamma models exactly (parameters below) and
then lets each simulated visit claim a real order, so that the customer models can be
checked against known truth on real order times and values. The truth is written outside
the RMS by ``demo_rms.build`` (``<truth_dir>/customers.csv``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from foresight.apps.restaurant.demo_sim import from_seconds, to_seconds

BG_R, BG_ALPHA = 0.75, 18.0  # purchase rate λ ~ Gamma(shape r, rate α), per day
BG_A, BG_B = 0.8, 5.0  # dropout probability p ~ Beta(a, b)
GG_P, GG_Q = 6.0, 4.0  # spend: z ~ Gamma(p, rate ν), ν ~ Gamma(q, rate γ)
SNAP_HOURS = 48
SNAP_CHOICES = 5
_BATCH = 1000


@dataclass(frozen=True)
class CustomerSimulation:
    """Who owns which order, the RMS profiles, the ground truth and the lost visits."""

    owners: pd.Series  # customer_id indexed by order_id, only for owned orders
    profiles: pd.DataFrame  # customer_id, created_at: customers owning at least one order
    truth: pd.DataFrame  # one row per simulated customer, see simulate_customers
    unsnapped: int


def simulate_customers(
    orders: pd.DataFrame, rng: np.random.Generator, *, share: float = 0.6
) -> CustomerSimulation:
    """Customers drawn from BG/NBD + Gamma-Gamma, their visits snapped to real orders.

    Ground truth, time in days:

    - each customer is acquired (first purchase) at some time in the orders' period; then
      buys at Poisson rate λ ~ Gamma(r=0.75, α=18) (shape 0.75, scale 1/18) while active,
      and after each *repeat* purchase drops out for good with probability
      p ~ Beta(0.8, 5);
    - acquisitions are spread over the period with a per-day density solved so that the
      expected visits of each day (first purchases plus the repeat purchases of
      everyone acquired before, E[λ e^(−λpt)] per day at age t) are ``share`` × that
      day's orders; uniform acquisition would instead let repeat buyers pile up, from
      20 % of the orders in January to 90 % in December. The time within the day is
      uniform (clipped to the first and last order);
    - each purchase's value is Gamma(p=6, rate ν) with ν ~ Gamma(q=4, rate γ), where
      γ = median order value × (q − 1) / p, so the mean spend across customers equals
      the median real order value;
    - customers are drawn until their simulated visits reach ``share`` × orders.

    Snapping: visits, in time order, each claim the earliest untaken real order within
    48 h after the visit (and after the customer's previous order), choosing among the
    next 5 untaken ones the order whose ``value`` is closest to a spend draw. A visit
    with no such order is dropped and counted in ``unsnapped``. Orders nobody claims stay
    walk-ins (no customer).

    ``orders`` needs ``order_id``, ``ordered_at`` and ``value``. The truth frame has
    ``customer_id, lambda_per_day, p_dropout, spend_nu, acquired_at, dropped_at,
    visits_simulated, visits_snapped`` (``dropped_at`` is empty for customers still
    active at the end).
    """
    ordered = orders.sort_values("ordered_at", ignore_index=True)
    times = to_seconds(ordered["ordered_at"])
    values = ordered["value"].to_numpy(dtype=float)
    gamma = float(np.median(values)) * (GG_Q - 1) / GG_P
    start, end = int(times[0]), int(times[-1])
    first_day = start - start % 86_400
    per_day = np.bincount((times - first_day) // 86_400)
    weights = acquisition_density(share * per_day)

    params, visits = _draw_customers(
        rng,
        span=(start, end),
        first_day=first_day,
        weights=weights / weights.sum(),
        target=share * len(ordered),
        gamma=gamma,
    )
    owner = _snap(visits, times=times, values=values, rng=rng, nu=params["spend_nu"].to_numpy())

    owned = owner >= 0
    snapped = np.bincount(owner[owned], minlength=len(params))
    ids = np.array([f"C{i + 1:05d}" for i in range(len(params))])
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "lambda_per_day": params["lambda_per_day"],
            "p_dropout": params["p_dropout"],
            "spend_nu": params["spend_nu"],
            "acquired_at": from_seconds(params["acquired"].to_numpy()),
            "dropped_at": from_seconds(params["dropped"].fillna(0).to_numpy()).where(
                params["dropped"].notna()
            ),
            "visits_simulated": np.bincount(visits["customer"], minlength=len(params)),
            "visits_snapped": snapped,
        }
    )
    owners = pd.Series(ids[owner[owned]], index=ordered["order_id"][owned].to_numpy())
    keep = snapped > 0
    profiles = truth.loc[keep, ["customer_id", "acquired_at"]].rename(
        columns={"acquired_at": "created_at"}
    )
    unsnapped = int(len(visits) - owned.sum())
    return CustomerSimulation(
        owners=owners.sort_index(),
        profiles=profiles.reset_index(drop=True),
        truth=truth,
        unsnapped=unsnapped,
    )


def acquisition_density(visits_per_day: np.ndarray) -> np.ndarray:
    """Expected acquisitions per day that make the expected visits per day (first plus
    repeat purchases) follow ``visits_per_day``; never negative."""
    quantiles = (np.arange(400) + 0.5) / 400
    p = stats.beta.ppf(quantiles, BG_A, BG_B)
    age = np.arange(len(visits_per_day), dtype=float)
    age[0] = 0.25  # repeat buys on the day of acquisition: half a day at age ~¼ day
    # E over λ ~ Gamma(r, α) of λ·exp(−λ·p·t) is r/α·(α/(α+p·t))^(r+1); then mean over p.
    repeat = (BG_R / BG_ALPHA * (BG_ALPHA / (BG_ALPHA + np.outer(age, p))) ** (BG_R + 1)).mean(1)
    repeat[0] *= 0.5
    acquired = np.zeros(len(visits_per_day))
    for d, want in enumerate(visits_per_day.astype(float)):
        earlier = float(acquired[:d] @ repeat[d:0:-1]) if d else 0.0
        acquired[d] = max(want - earlier, 0.0) / (1.0 + repeat[0])
    return acquired


def _draw_customers(
    rng: np.random.Generator,
    *,
    span: tuple[int, int],
    first_day: int,
    weights: np.ndarray,
    target: float,
    gamma: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers (sorted by acquisition) and their visits (customer, at seconds)."""
    start, end = span
    rows: list[tuple[float, float, float, int, float | None]] = []
    visit_rows: list[tuple[int, int]] = []
    while len(visit_rows) < target:
        lam = rng.gamma(BG_R, 1.0 / BG_ALPHA, _BATCH)
        p = rng.beta(BG_A, BG_B, _BATCH)
        nu = rng.gamma(GG_Q, 1.0 / gamma, _BATCH)
        day = rng.choice(len(weights), _BATCH, p=weights)
        offset = rng.uniform(0, 86_400, _BATCH)
        acquired = np.clip(first_day + day * 86_400 + offset, start, end).astype(np.int64)
        for k in range(_BATCH):
            if len(visit_rows) >= target:
                break
            at, dropped = _visits(int(acquired[k]), float(lam[k]), float(p[k]), end, rng)
            visit_rows += [(len(rows), t) for t in at]
            rows.append((lam[k], p[k], nu[k], int(acquired[k]), dropped))
    params = pd.DataFrame(
        rows, columns=["lambda_per_day", "p_dropout", "spend_nu", "acquired", "dropped"]
    )
    visits = pd.DataFrame(visit_rows, columns=["customer", "at"])
    # Number customers by acquisition time, so C00001 is the first acquired.
    order = np.argsort(params["acquired"].to_numpy(), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    params = params.iloc[order].reset_index(drop=True)
    visits["customer"] = rank[visits["customer"].to_numpy()]
    return params, visits


def _visits(
    acquired: int, lam: float, p: float, end: int, rng: np.random.Generator
) -> tuple[list[int], float | None]:
    """One customer's purchase times (seconds) and the dropout time, if any."""
    at, t = [acquired], float(acquired)
    while True:
        t += rng.exponential(1.0 / lam) * 86_400
        if t > end:
            return at, None
        at.append(int(t))
        if rng.random() < p:
            return at, float(int(t))


def _snap(
    visits: pd.DataFrame,
    *,
    times: np.ndarray,
    values: np.ndarray,
    nu: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The owning customer per order (-1 for walk-ins)."""
    at_list, value_list, nu_list = times.tolist(), values.tolist(), nu.tolist()
    n = len(at_list)
    owner = [-1] * n
    # next_free[i]: the first untaken order at or after i (union-find with path compression).
    next_free = list(range(n + 1))
    last_at: dict[int, int] = {}
    ordered = visits.sort_values(["at", "customer"], kind="stable")
    spend = rng.gamma(GG_P, 1.0, len(ordered)).tolist()
    for c, at, z in zip(ordered["customer"].tolist(), ordered["at"].tolist(), spend, strict=True):
        lower = max(at, last_at.get(c, -1) + 1)
        i = _find(next_free, bisect.bisect_left(at_list, lower))
        choices: list[int] = []
        while i < n and at_list[i] <= at + SNAP_HOURS * 3600 and len(choices) < SNAP_CHOICES:
            choices.append(i)
            i = _find(next_free, i + 1)
        if not choices:
            continue
        want = z / nu_list[c]
        pick = min(choices, key=lambda j: (abs(value_list[j] - want), j))
        owner[pick] = c
        last_at[c] = at_list[pick]
        next_free[pick] = pick + 1
    return np.array(owner, dtype=np.int64)


def _find(next_free: list[int], i: int) -> int:
    root = i
    while next_free[root] != root:
        root = next_free[root]
    while next_free[i] != root:
        next_free[i], i = root, next_free[i]
    return root
