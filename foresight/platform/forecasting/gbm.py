"""The global gradient-boosting member: one model learned across all series.

Every training row is one (series, time) pair. Values are normalised by the level of the
window before the target (``(y - level) / scale``; the window spans whole cycles of the
data, :func:`level_window`), so series of any size share one model
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
import pandas as pd

from foresight.platform.forecasting import calendar

SMALL_ROWS = 20_000
MAX_TRAIN_COLUMNS = 1500  # recent history is what matters; keeps hourly data fast
# Every feature row averages over the level window, so its cost grows with the window;
# this caps it (an hourly week is 168 steps, a 30-minute week 336, a 15-minute day 96).
MAX_LEVEL_WINDOW = 500
# Rows per LightGBM/XGBoost thread. On the 2-core machine shared with other jobs, one
# thread against two (100 trees under 20k rows, else 300; 60 features; 168 one-step
# predictions of 5 rows; /tmp dev run, 3 repeats): 5k rows 1.1 s vs median 0.5 s but up
# to 4.2 s; 19k 1.2 s vs up to 9.0 s; 50k 4.8 vs 14.7 s; 150k 13 vs 148 s. A busy core
# makes OpenMP threads wait on each other, so a thread must have far more work than that.
ROWS_PER_THREAD = 200_000


def window_length(season_length: int) -> int:
    """The fewest recent values a row needs: one season (at least 4)."""
    return max(season_length, 4)


def level_window(season_length: int, freq: str | None) -> int:
    """Steps the level (normalisation) is averaged over: whole cycles of every calendar
    cycle of the data, so the level carries no seasonal phase.

    A one-season window is enough when the season is the only cycle (monthly data,
    daily data with its week). Sub-daily data has two, the day and the week: a level
    from the last day alone is a Saturday's or a holiday's level, and the model must
    unlearn that from a phase it cannot see. Its window is the week (or the day, when
    a week is longer than ``MAX_LEVEL_WINDOW`` steps), if that is whole seasons.

    >>> level_window(24, "h"), level_window(48, "30min"), level_window(7, "D")
    (168, 336, 7)
    >>> level_window(96, "15min"), level_window(12, None)
    (96, 12)
    """
    base = window_length(season_length)
    step = _step(freq)
    day = pd.Timedelta(days=1)
    if step is None or step >= day:
        return base
    cycles = [int(span / step) for span in (7 * day, day) if span % step == pd.Timedelta(0)]
    fits = [c for c in cycles if base <= c <= MAX_LEVEL_WINDOW and c % season_length == 0]
    return fits[0] if fits else base


def threads_for(rows: int, n_jobs: int) -> int:
    """Threads for ``rows`` rows of work: one per ``ROWS_PER_THREAD``, 1 to ``n_jobs``.

    >>> threads_for(7_500, 2), threads_for(1_000_000, 2)
    (1, 2)
    """
    return max(1, min(n_jobs, rows // ROWS_PER_THREAD))


def _step(freq: str | None) -> pd.Timedelta | None:
    """The fixed length of one step of ``freq`` (None for calendar frequencies)."""
    offset = None if freq is None else pd.tseries.frequencies.to_offset(freq)
    if not isinstance(offset, pd.offsets.Tick):
        return None  # months, quarters, years, business days: no fixed length
    return pd.Timedelta(offset)


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
    def _window_features(
        self, win: np.ndarray, level_w: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features from the values before the target (the last ``lags`` as lags, the
        last ``level_w`` for the level); returns (X, level, scale)."""
        last = win[:, -level_w:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # nanmean: a series shorter than the level window takes what it has.
            level = np.nanmean(last, axis=1)
            scale = np.nanmean(np.abs(last), axis=1)
            scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
            lags = (win[:, -self.lags :][:, ::-1] - level[:, None]) / scale[:, None]
            spread = np.nanstd(last, axis=1) / scale
            previous = np.nanmean(win[:, -2 * level_w : -level_w], axis=1)
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
        level_w = level_window(self.m, panel.freq)
        L = max(self.lags, 2 * level_w)  # lags, this level window and the one before
        cal = self._calendar(panel)
        padded = np.concatenate([np.full((S, L), np.nan), Z], axis=1)
        X_parts, y_parts, w_parts = [], [], []
        for c in range(max(self.w, T - MAX_TRAIN_COLUMNS), T):
            win = padded[:, c : c + L]
            ok = ~np.isnan(win[:, -self.w :]).any(axis=1) & ~np.isnan(Z[:, c])
            if not ok.any():
                continue
            X, level, scale = self._window_features(win[ok], level_w)
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
        model.set_params(n_jobs=threads_for(S, self.n_jobs))  # each recursive step predicts S rows

        ext = np.concatenate([padded, np.full((S, horizon), np.nan)], axis=1)
        out = np.full((S, horizon), np.nan)
        for j in range(horizon):
            c = T + j
            win = ext[:, c : c + L]
            X, level, scale = self._window_features(win, level_w)
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
            n_jobs=threads_for(rows, self.n_jobs),
        )
        if self.backend == "xgboost":
            import xgboost

            return xgboost.XGBRegressor(max_depth=6, tree_method="hist", **common)
        import lightgbm

        return lightgbm.LGBMRegressor(
            num_leaves=31, min_child_samples=20, subsample_freq=1, verbose=-1, **common
        )
