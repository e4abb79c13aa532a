"""The observable ceiling: the truth less what no input shows (``sim_observable``)."""

from __future__ import annotations

import numpy as np
import pytest

from foresight.apps.delivery.sim import SimConfig, SimResult, simulate
from foresight.apps.delivery.sim_observable import observable_truth


@pytest.fixture(scope="module")
def sim() -> SimResult:
    return simulate(SimConfig(households=40, weeks=20, seed=5, join_late_share=0.0))


def test_hiding_nothing_gives_the_window_truth_back(sim: SimResult) -> None:
    again = observable_truth(sim, hide=False)
    np.testing.assert_allclose(again, sim.attempts["p_true_window"].to_numpy(), atol=1e-12)


def test_only_households_with_something_unseen_change(sim: SimResult) -> None:
    truth = sim.attempts["p_true_window"].to_numpy()
    seen = observable_truth(sim)
    owner = sim.attempts["customer_id"].to_numpy()
    changed = {str(c) for c in owner[np.abs(seen - truth) > 1e-12]}
    for customer_id in set(owner):
        h, cal = sim.household(customer_id), sim.calendar_events(customer_id)
        exported = {a.first for a in cal.all_day if a.exported and not a.transparent}
        hidden = not h.connected and (len(cal.once) or h.vacations)
        hidden = hidden or (cal.once[:, 3] == 0).any() or not set(h.vacations) <= exported
        if not hidden:
            assert customer_id not in changed, customer_id
    assert changed  # 40 households: some hide an appointment or a vacation
    # An unseen appointment only ever took the household away: without vacations hidden,
    # the window can only become likelier.
    no_vacation = [c for c in changed if not sim.household(c).vacations]
    rows = np.isin(owner, no_vacation)
    assert rows.any() and np.all(seen[rows] >= truth[rows] - 1e-12)
