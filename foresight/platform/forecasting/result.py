"""What a forecast run returns: point forecasts, conformal intervals at any level, the
backtest and the chosen ensemble weights per series group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import ensemble


@dataclass
class ForecastResult:
    """Forecasts of every series, the backtest behind them, and what was chosen."""

    uids: list[str]
    horizon: int
    freq: str | None
    season_length: int
    future: np.ndarray  # S × h time stamps
    point: np.ndarray  # S × h ensemble forecast
    members: dict[str, np.ndarray]  # name -> S × h
    groups: np.ndarray  # S
    weights: dict[str, dict[str, float]]  # group -> member -> weight
    candidates: dict[str, list[dict[str, Any]]]  # group -> candidate scores
    scores: dict[str, np.ndarray]  # group -> n × h scaled absolute errors (conformal)
    cum_scores: dict[str, np.ndarray]  # the same for the sum of the first k steps
    scale: np.ndarray  # S, MASE scale of each full series
    nonnegative: np.ndarray  # S
    backtest: pd.DataFrame  # one row per series, window and model
    notes: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # S × h, True at closed steps (forecast and bounds are 0 there); None = never closed.
    # A plain default, so a result pickled before this field existed reads None.
    closed: np.ndarray | None = None

    def index(self, uid: str) -> int:
        try:
            return self.uids.index(uid)
        except ValueError:
            raise InvalidInput(f"no forecast for series {uid!r}") from None

    def bounds(self, level: float, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper interval bounds (S × h, or the given rows) at ``level`` percent."""
        ensemble.validate_levels((level,))
        rows = np.arange(len(self.uids)) if rows is None else rows
        groups = self.groups[rows]
        quantile = {
            g: ensemble.conformal_quantile(self.scores[str(g)], level, season=self._season(str(g)))
            for g in set(groups)
        }
        half = np.stack([quantile[g] for g in groups]) * self.scale[rows, None]
        lo, hi = self.point[rows] - half, self.point[rows] + half
        lo = np.where(self.nonnegative[rows, None], np.maximum(lo, 0.0), lo)
        if self.closed is not None:
            lo, hi = np.where(self.closed[rows], 0.0, lo), np.where(self.closed[rows], 0.0, hi)
        return lo, hi

    def _season(self, group: str) -> int:
        """Widths grow per phase of the season when something is closed (see
        ``ensemble.conformal_quantile``); when nothing is, exactly as without a mask."""
        if self.closed is None:
            return 1
        if self.closed.any() or np.isnan(self.scores[group]).any():
            return self.season_length
        return 1

    def sum_bounds(self, row: int, steps: int, level: float) -> tuple[float, float, float]:
        """Point, lower and upper bound for the total of the first ``steps`` steps.

        Calibrated on backtest errors of the cumulative sum itself, so the interval of a
        period total is neither the too-wide sum of daily intervals nor a too-narrow
        independence approximation.
        """
        ensemble.validate_levels((level,))
        steps = max(1, min(steps, self.horizon))
        total = float(self.point[row, :steps].sum())
        if self.closed is not None and self.closed[row, :steps].all():
            return total, 0.0, 0.0  # closed throughout: the total is exactly 0
        q = ensemble.conformal_quantile(self.cum_scores[str(self.groups[row])], level)
        half = float(q[steps - 1] * self.scale[row])
        lo = max(total - half, 0.0) if self.nonnegative[row] else total - half
        return total, lo, total + half

    def frame(self, levels: tuple[float, ...] = ()) -> pd.DataFrame:
        """Long format: ``unique_id``, ``ds``, ``y_hat`` and ``y_hat_lo_L``/``y_hat_hi_L``."""
        out = pd.DataFrame(
            {
                "unique_id": np.repeat(self.uids, self.horizon),
                "ds": self.future.ravel(),
                "y_hat": self.point.ravel(),
            }
        )
        for level in ensemble.validate_levels(levels):
            lo, hi = self.bounds(level)
            tag = f"{level:g}".replace(".", "_")
            out[f"y_hat_lo_{tag}"] = lo.ravel()
            out[f"y_hat_hi_{tag}"] = hi.ravel()
        return out

    def summary(self) -> pd.DataFrame:
        """Backtest metrics per model (members, seasonal naive and the ensemble)."""
        if self.backtest.empty:
            return pd.DataFrame(columns=["model", "smape", "mase", "mae", "rmse", "mape", "n"])
        grouped = self.backtest.groupby("model")
        table = grouped[["smape", "mase", "mae", "rmse", "mape"]].mean()
        table["n"] = grouped.size()
        return table.reset_index().sort_values("smape").reset_index(drop=True)
