"""The truth as far as the data can show it: a ceiling for any model of the attempts.

``p_true`` (``sim_truth.py``) knows things no input carries: the one-off appointments a
household never exported (every one of them when its calendar is not connected) and the
vacations nobody can see. ``observable_truth`` recomputes each attempt's window truth
with those removed and everything else kept: the routine and its change, the weekly
series (a routine the history can show), the day's real weather, the out-day, answer and
concierge rates. The result is generous to a model (it is given the exact routine, the
realised weather and every household constant), so the distance from a model to it is a
lower bound on what better modelling could still gain, and the distance from it to the
truth is what no model of these inputs can close.

Removing an invisible event rather than averaging over it ignores a small, nearly
uniform drop in P(home) (``ONE_OFFS_PER_WEEK`` short appointments a week, ~2.5 % of days
on an unseen vacation); it moves every window alike and barely moves a ranking.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from foresight.apps.delivery.sim import SimResult


def _window_means(
    true: np.ndarray, clock0: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Mean of ``true`` (days × 96 slots) over each window; windows start on the quarter
    hour of one local day (``clock0`` is each day's local 00:00, exact for 08–21)."""
    day = np.searchsorted(clock0, start, side="right") - 1
    first = (start - clock0[day]) // 900
    width = (end - start) // 900
    cum = np.concatenate([np.zeros((len(true), 1)), np.cumsum(true, axis=1)], axis=1)
    return (cum[day, first + width] - cum[day, first]) / width


def observable_truth(sim: SimResult, *, hide: bool = True) -> np.ndarray:
    """``p_true_window`` of every row of ``sim.attempts`` with the invisible events removed
    (``hide=False`` removes nothing and gives ``p_true_window`` back: the check of this
    recomputation)."""
    attempts = sim.attempts
    out = np.full(len(attempts), np.nan)
    start = attempts["window_start"].astype("int64").to_numpy() // 10**9
    end = attempts["window_end"].astype("int64").to_numpy() // 10**9
    last = sim.config.end
    for customer_id, rows in attempts.groupby("customer_id", sort=False).indices.items():
        h, cal = sim.household(customer_id), sim.calendar_events(customer_id)
        seen = h.connected or not hide
        if hide:
            once = cal.once[cal.once[:, 3] == 1] if seen else cal.once[:0]
            visible = {a.first for a in cal.all_day if seen and a.exported and not a.transparent}
        else:
            once, visible = cal.once, set(h.vacations)
        h2 = replace(h, vacations=tuple(v for v in h.vacations if v in visible))
        cal2 = replace(cal, once=once)
        day0 = max(h.joined, sim.config.start)
        days = sim.household_days(customer_id, day0, (last - day0).days, replace=(h2, cal2))
        out[rows] = _window_means(days.true, days.clock0, start[rows], end[rows])
    return out
