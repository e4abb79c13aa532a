"""Pure data → features: the design matrix of a bill and a party size."""

from __future__ import annotations

import numpy as np
import pandas as pd


def design(frame: pd.DataFrame) -> np.ndarray:
    """Columns: 1, bill, party_size."""
    return np.column_stack(
        [np.ones(len(frame)), frame["bill"].to_numpy(float), frame["party_size"].to_numpy(float)]
    )
