"""Closed periods: time stamps at which a series cannot have demand (a shop at night, a
public holiday), given to :func:`~foresight.platform.forecasting.engine.forecast` as
``closed``, a callable from datetime64 stamps to booleans (True = closed).

Closed slots still appear in the series (the gap check wants every period), as zeros.
The engine uses the mask four ways (docs/forecasting.md, "Closed periods"):

1. the global model gets an ``open`` feature, over history and horizon, and its recursive
   forecast feeds 0 at closed steps;
2. point forecasts, every member and the interval bounds are exactly 0 at closed future
   steps, and the S × h mask is kept as ``ForecastResult.closed``;
3. closed steps are left out of backtest records, ensemble weights and conformal scores;
4. the per-series (local) members are fitted on the history with each closed step filled
   by the last open value at its phase of the week (:func:`fill_closed`): a zero there
   says nothing about demand, and a statistical model would read it as a collapse
   (and dropping the step would shift every later weekday).

>>> import pandas as pd
>>> stamps = np.array(["2024-01-01T03", "2024-01-01T12"], dtype="datetime64[ns]")
>>> night = lambda ds: pd.DatetimeIndex(ds).hour < 11
>>> steps = closed_steps(night, stamps[None, :], lengths=[1], horizon=1)
>>> steps.history[0].tolist(), steps.future.tolist()
([True], [[False]])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput

ClosedFn = Callable[[np.ndarray], np.ndarray]
"""``closed(stamps) -> mask``: datetime64 stamps (1-D) to booleans of the same length."""


@dataclass(frozen=True)
class ClosedSteps:
    """Where each series is closed, on the engine's right-aligned panel of history + horizon."""

    panel: np.ndarray  # S × (T + h); False left of a shorter series' start
    history: list[np.ndarray]  # per series, aligned with its values
    future: np.ndarray  # S × h

    @property
    def in_history(self) -> bool:
        return any(bool(mask.any()) for mask in self.history)

    @property
    def anywhere(self) -> bool:
        return self.in_history or bool(self.future.any())


def evaluate(closed: ClosedFn, stamps: np.ndarray) -> np.ndarray:
    """``closed`` applied to ``stamps`` of any shape; NaT (padding) counts as open."""
    stamps = np.asarray(stamps, dtype="datetime64[ns]")
    valid = ~np.isnat(stamps)
    out = np.zeros(stamps.shape, dtype=bool)
    if valid.any():
        flat = np.asarray(closed(stamps[valid]))
        if flat.shape != (int(valid.sum()),):
            raise ValueError(
                f"the closed-periods callable returned shape {flat.shape} for "
                f"{int(valid.sum())} time stamps; it must return one boolean per stamp"
            )
        out[valid] = flat.astype(bool)
    return out


def closed_steps(
    closed: ClosedFn, dates: np.ndarray | None, *, lengths: list[int], horizon: int
) -> ClosedSteps:
    """The closed mask over ``dates`` (S × (T + h), right-aligned, NaT-padded), split
    into each series' history (of ``lengths[i]`` steps) and the ``horizon``."""
    if dates is None:
        raise InvalidInput(
            "closed periods need dated series (ds as dates or times), not an integer index"
        )
    panel = evaluate(closed, dates)
    T = dates.shape[1] - horizon
    history = [panel[i, T - n : T] for i, n in enumerate(lengths)]
    return ClosedSteps(panel, history, panel[:, T:])


def zero_closed(values: np.ndarray, closed: np.ndarray | None) -> np.ndarray:
    """``values`` with exact zeros where ``closed`` (same shape) is True."""
    if closed is None:
        return values
    return np.where(closed, 0.0, values)


def fill_closed(y: np.ndarray, closed: np.ndarray, period: int) -> np.ndarray:
    """``y`` with each closed step set to the last open value ``period`` steps (or a
    multiple) before it; a phase never open before keeps its value.

    The engine passes the data's whole calendar cycle (``gbm.level_window``: the week for
    hourly and daily data), so a step takes the value of the same hour on the same
    weekday. Regular closures (nights, a weekly closing day) stay as they are, since the
    step a cycle earlier is closed too; a day closed out of turn (a holiday, a dark day)
    takes the last open value like it.

    >>> shut = np.array([0, 0, 0, 0, 1, 1, 0, 0], dtype=bool)
    >>> fill_closed(np.array([5.0, 1, 6, 2, 0, 0, 0, 3]), shut, 2)
    array([5., 1., 6., 2., 6., 2., 0., 3.])
    """
    out = np.asarray(y, dtype=float).copy()
    if period < 1 or not closed.any():
        return out
    n = len(out)
    cycles = -(-n // period)
    grid = np.full(cycles * period, np.nan)
    grid[:n] = np.where(closed, np.nan, out)
    # One row per period, one column per phase: a forward fill down a column carries
    # the last open value of that phase.
    filled = pd.DataFrame(grid.reshape(cycles, period)).ffill().to_numpy().ravel()[:n]
    return np.where(np.isnan(filled), out, filled)
