"""Simulated tables with a known tip rule: 12 % of the bill plus 1 per guest, plus noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foresight.platform.apps import ImportResult
from foresight.platform.training import Progress
from tests.example_app.service import TipsService


def simulate(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bill = np.round(rng.gamma(4.0, 10.0, n), 2)
    party = rng.integers(1, 7, n)
    tip = 0.12 * bill + 1.0 * party + rng.normal(0, 0.5, n)
    return pd.DataFrame({"bill": bill, "party_size": party, "tip": np.round(tip, 2)})


def load_simulated(service: TipsService, progress: Progress) -> ImportResult:
    progress("load", 0.0, "simulating tables")
    result = service.import_frame(simulate())
    progress("load", 1.0, result.message)
    return result
