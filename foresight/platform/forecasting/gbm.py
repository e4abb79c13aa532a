"""The global gradient-boosting member: one model learned across all series.

Every training row is one (series, time) pair. Values are normalised by the level of the
window before the target (``(y - level) / scale``), so series of any size share one model
and a trend continues as a pattern rather than being capped at the training maximum — a
plain tree model cannot extrapolate. Features: normalised lags, the window's spread and
level change, calendar and holiday columns for dated series, exogenous regressors, and
``open`` when the panel has closed periods. Forecasts are recursive: each predicted step
feeds the next step's lags, and a closed step feeds 0, as closed history does.

Series are held right-aligned in an ``S × T`` matrix (NaN on the left of shorter ones), so
a backtest cut-off "``back`` steps before each series' end" is a column slice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from foresight.platform.forecasting import calendar

SMALL_ROWS = 20_000
MAX_TRAIN_COLUMNS = 1500  # recent history is what matters; keeps hourly data fast


def window_length(season_length: int) -> int:
    return max(season_length, 4)


@dataclass
class Panel:
    """Right-aligned history plus, for dated series, dates and regressors over the horizon."""

    values: np.ndarray  # S × T
    dates: np.ndarray | None = None  # S × (T + h), datetime64
    exog: np.ndarray | None = None  # S × (T + h) × E
    freq: str | None = None
    closed: np.ndarray | None = None  # S × (T + h) bool; None = never closed

    def cut(self, back: int, horizon: int) -> Panel:
        """The panel as it was ``back`` steps before each series' end."""
        if back == 0:
            return self
        t = self.values.shape[1] - back
        keep = slice(0, t + horizon)
        return Panel(
            self.values[:, :t],
            None if self.dates is None else self.dates[:, keep],
            None if self.exog is None else self.exog[:, keep],
            self.freq,
            None if self.closed is None else self.closed[:, keep],
        )


class GlobalGBM:
    """LightGBM (default) or XGBoost (the seed's stack, an optional extra) across series."""

    def __init__(
        self,
        season_length: int,
        *,
        backend: str = "lightgbm",
        country: str | None = None,
        seed: int = 0,
        n_jobs: int = 2,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
    ) -> None:
        self.m = season_length
        self.w = window_length(season_length)
        self.lags = max(2 * self.w, 8)
        self.backend = backend
        self.country = country
        self.seed = seed
        self.n_jobs = n_jobs
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate

    # ---- features ------------------------------------------------------------------------
    def _window_features(self, win: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features from the ``lags`` values before the target; returns (X, level, scale)."""
        w = self.w
        last = win[:, -w:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanmean(last, axis=1)
            scale = np.nanmean(np.abs(last), axis=1)
            scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
            lags = (win[:, ::-1] - level[:, None]) / scale[:, None]
            spread = np.nanstd(last, axis=1) / scale
            previous = np.nanmean(win[:, -2 * w : -w], axis=1)
            change = (level - previous) / scale
        log_scale = np.log1p(scale)
        X = np.column_stack([lags, spread, change, log_scale])
        return X, level, scale

    def _extra(self, calendar_cols: dict[str, np.ndarray], panel: Panel, c: int) -> list:
        cols = [v[:, c] for v in calendar_cols.values()]
        if panel.exog is not None:
            cols.extend(panel.exog[:, c, e] for e in range(panel.exog.shape[2]))
        if panel.closed is not None:
            cols.append((~panel.closed[:, c]).astype(float))  # the `open` feature
        return cols

    def _calendar(self, panel: Panel) -> dict[str, np.ndarray]:
        if panel.dates is None or panel.freq is None:
            return {}
        return calendar.features(panel.dates, panel.freq, self.country)

    # ---- fit and forecast ----------------------------------------------------------------
    def forecast(self, panel: Panel, horizon: int) -> np.ndarray:
        """Fit on the panel's history and forecast ``horizon`` steps for every series."""
        Z = panel.values.astype(float)
        S, T = Z.shape
        L = self.lags
        cal = self._calendar(panel)
        padded = np.concatenate([np.full((S, L), np.nan), Z], axis=1)
        X_parts, y_parts, w_parts = [], [], []
        for c in range(max(self.w, T - MAX_TRAIN_COLUMNS), T):
            win = padded[:, c : c + L]
            ok = ~np.isnan(win[:, -self.w :]).any(axis=1) & ~np.isnan(Z[:, c])
            if not ok.any():
                continue
            X, level, scale = self._window_features(win[ok])
            extra = self._extra(cal, panel, c)
            if extra:
                X = np.column_stack([X, *[e[ok] for e in extra]])
            X_parts.append(X)
            y_parts.append((Z[ok, c] - level) / scale)
            w_parts.append(np.flatnonzero(ok))
        if not X_parts:
            return np.full((S, horizon), np.nan)
        X_train = np.concatenate(X_parts)
        y_train = np.clip(np.concatenate(y_parts), -20, 20)
        owner = np.concatenate(w_parts)
        # Each series weighs the same in total, however long it is.
        weight = 1.0 / np.bincount(owner, minlength=S)[owner]
        model = self._model(len(y_train))
        model.fit(X_train, y_train, sample_weight=weight)

        ext = np.concatenate([padded, np.full((S, horizon), np.nan)], axis=1)
        out = np.full((S, horizon), np.nan)
        for j in range(horizon):
            c = T + j
            win = ext[:, c : c + L]
            X, level, scale = self._window_features(win)
            extra = self._extra(cal, panel, c)
            if extra:
                X = np.column_stack([X, *extra])
            step = level + scale * model.predict(X)
            if panel.closed is not None:
                step[panel.closed[:, c]] = 0.0
            ok = ~np.isnan(win[:, -self.w :]).any(axis=1)
            step[~ok] = np.nan
            out[:, j] = step
            ext[:, c + L] = step
        return out

    def _model(self, rows: int) -> Any:
        # Small panels get fewer, larger steps: as accurate there, and a third of the time.
        small = rows < SMALL_ROWS
        common: dict[str, Any] = dict(
            n_estimators=self.n_estimators // 3 if small else self.n_estimators,
            learning_rate=self.learning_rate * 2 if small else self.learning_rate,
            subsample=0.8,
            colsample_bytree=0.8,
            random_state=self.seed,
            n_jobs=self.n_jobs,
        )
        if self.backend == "xgboost":
            import xgboost

            return xgboost.XGBRegressor(max_depth=6, tree_method="hist", **common)
        import lightgbm

        return lightgbm.LGBMRegressor(
            num_leaves=31, min_child_samples=20, subsample_freq=1, verbose=-1, **common
        )
