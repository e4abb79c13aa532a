"""The forecasting engine: fit every member, backtest, choose weights, forecast with intervals.

>>> import numpy as np, pandas as pd
>>> from foresight.platform.forecasting.series import validate
>>> t = np.arange(60)
>>> data = pd.DataFrame({"unique_id": "a", "ds": t, "y": 10 + t * 0.5 + np.sin(t * np.pi / 2)})
>>> result = forecast(validate(data, season_length=4), ForecastConfig(horizon=4, n_jobs=1))
>>> result.frame(levels=(80,)).columns.tolist()
['unique_id', 'ds', 'y_hat', 'y_hat_lo_80', 'y_hat_hi_80']

Steps (see docs/forecasting.md for the reasoning):

1. Local members (AutoETS, Dynamic Optimized Theta, AutoCES) run per series in a process
   pool; a sample of up to ``backtest_series`` series per group is also backtested.
2. Global members (LightGBM, or the XGBoost plug-in) are fitted once per cut-off on all
   series at once.
3. Per group, the equal-weight combination of members with the best backtest OWA wins.
4. Conformal intervals come from the same backtest errors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import ensemble, metrics
from foresight.platform.forecasting.baselines import future_ds
from foresight.platform.forecasting.gbm import GlobalGBM, Panel
from foresight.platform.forecasting.local import (
    BASELINE,
    SeriesResult,
    SeriesTask,
    min_length,
    run_chunk,
    seasonal_naive,
)
from foresight.platform.forecasting.series import SeriesFrame

DEFAULT_MEMBERS = ("auto_ets", "theta", "ces", "lightgbm")
GLOBAL_MEMBERS = ("lightgbm", "xgboost")
KNOWN_MEMBERS = ("auto_ets", "theta", "standard_theta", "ces", "lightgbm", "xgboost", "prophet")
PLUGINS = {"xgboost": "xgboost", "prophet": "prophet"}  # member -> module of the extra
ENSEMBLE = "ensemble"
CHUNK = 8

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``: units are series fitted."""


def _no_progress(done: int, total: int, message: str) -> None:
    return None


@dataclass(frozen=True)
class ForecastConfig:
    """What to forecast and how. Defaults are the engine's default ensemble."""

    horizon: int
    levels: tuple[float, ...] = (80.0, 95.0)
    members: tuple[str, ...] = DEFAULT_MEMBERS
    n_windows: int = 2
    step: int | None = None  # between cut-offs; default half the horizon
    backtest_series: int = 300  # per group; weights and intervals are per group
    country: str | None = None  # holiday calendar for dated daily/hourly series
    n_jobs: int = 0  # 0 = every core
    seed: int = 0

    def checked(self) -> ForecastConfig:
        if self.horizon < 1:
            raise InvalidInput(f"horizon must be at least 1 (got {self.horizon})")
        if self.n_windows < 0:
            raise InvalidInput("n_windows cannot be negative")
        unknown = [m for m in self.members if m not in KNOWN_MEMBERS]
        if unknown or not self.members:
            raise InvalidInput(
                f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(KNOWN_MEMBERS)}"
            )
        for member, module in PLUGINS.items():
            if member in self.members:
                try:
                    __import__(module)
                except ImportError:
                    raise InvalidInput(
                        f"model {member} needs the optional extra: pip install 'foresight[seed]'"
                    ) from None
        ensemble.validate_levels(self.levels)
        return self

    @property
    def jobs(self) -> int:
        return self.n_jobs or os.cpu_count() or 1


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
        quantile = {g: ensemble.conformal_quantile(self.scores[str(g)], level) for g in set(groups)}
        half = np.stack([quantile[g] for g in groups]) * self.scale[rows, None]
        lo, hi = self.point[rows] - half, self.point[rows] + half
        lo = np.where(self.nonnegative[rows, None], np.maximum(lo, 0.0), lo)
        return lo, hi

    def sum_bounds(self, row: int, steps: int, level: float) -> tuple[float, float, float]:
        """Point, lower and upper bound for the total of the first ``steps`` steps.

        Calibrated on backtest errors of the cumulative sum itself, so the interval of a
        period total is neither the too-wide sum of daily intervals nor a too-narrow
        independence approximation.
        """
        ensemble.validate_levels((level,))
        steps = max(1, min(steps, self.horizon))
        total = float(self.point[row, :steps].sum())
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


# ---- the pool ------------------------------------------------------------------------------
_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(jobs: int) -> ProcessPoolExecutor:
    # forkserver: safe from a threaded server process, and workers outlive one call so
    # statsforecast is imported (and its numba code loaded) once per worker.
    if jobs not in _POOLS:
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["foresight.platform.forecasting._warm"])
        _POOLS[jobs] = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    return _POOLS[jobs]


class _LocalRun:
    """Local models running in the pool while the caller fits the global ones."""

    def __init__(self, tasks: list[SeriesTask], jobs: int, progress: Progress) -> None:
        self.tasks, self.progress = tasks, progress
        self.inline = jobs == 1 or len(tasks) <= 2 * CHUNK
        self.chunks = [tasks[i : i + CHUNK] for i in range(0, len(tasks), CHUNK)]
        self.futures: dict[Any, int] = {}
        if not self.inline:
            pool = _pool(jobs)
            self.futures = {pool.submit(run_chunk, c): n for n, c in enumerate(self.chunks)}

    def results(self) -> list[SeriesResult]:
        total = len(self.tasks)
        if self.inline:
            out = []
            for i, task in enumerate(self.tasks):
                out.extend(run_chunk([task]))
                self.progress(i + 1, total, "statistical models")
            return out
        parts: dict[int, list[SeriesResult]] = {}
        done = 0
        for future in as_completed(self.futures):
            part = future.result()
            parts[self.futures[future]] = part
            done += len(part)
            self.progress(done, total, "statistical models")
        return [r for n in range(len(self.chunks)) for r in parts[n]]


# ---- the engine ----------------------------------------------------------------------------
def _panel(
    series: SeriesFrame, arrays: list[np.ndarray], future: np.ndarray, horizon: int, exog: Any
) -> Panel:
    S, T = len(arrays), max(len(a) for a in arrays)
    values = np.full((S, T), np.nan)
    for i, a in enumerate(arrays):
        values[i, T - len(a) :] = a
    dates = None
    if series.freq is not None:
        dates = np.full((S, T + horizon), np.datetime64("NaT"), dtype="datetime64[ns]")
        for i, (_, g) in enumerate(series.data.groupby("unique_id", sort=False)):
            dates[i, T - len(g) : T] = g["ds"].to_numpy(dtype="datetime64[ns]")
            dates[i, T:] = future[i].astype("datetime64[ns]")
    return Panel(values, dates, exog, series.freq)


def _exogenous(
    series: SeriesFrame, future: pd.DataFrame | None, horizon: int, T: int, notes: dict[str, str]
) -> np.ndarray | None:
    names = series.exogenous
    if not names:
        return None
    for name in names:
        if not pd.api.types.is_numeric_dtype(series.data[name]):
            raise InvalidInput(f"exogenous column {name!r} must be numeric")
    groups = list(series.data.groupby("unique_id", sort=False))
    out = np.full((len(groups), T + horizon, len(names)), np.nan)
    fut = None
    if future is not None:
        missing = [c for c in ("unique_id", *names) if c not in future.columns]
        if missing:
            raise InvalidInput(f"the future file lacks column(s) {', '.join(missing)}")
        fut = {str(k): g for k, g in future.groupby(future["unique_id"].astype(str), sort=False)}
    for i, (uid, g) in enumerate(groups):
        out[i, T - len(g) : T] = g[names].to_numpy(dtype=float)
        if fut is not None and str(uid) in fut:
            values = fut[str(uid)][names].to_numpy(dtype=float)[:horizon]
            if len(values) < horizon:
                raise InvalidInput(
                    f"series {uid}: the future file has {len(values)} rows, the horizon is "
                    f"{horizon}"
                )
            out[i, T:] = values
        else:
            # Unknown future regressors are held at their last value, and the user is told.
            out[i, T:] = g[names].to_numpy(dtype=float)[-1]
            notes.setdefault(
                str(uid), f"future values of {', '.join(names)} held at their last value"
            )
    return out


def forecast(
    series: SeriesFrame,
    config: ForecastConfig,
    *,
    groups: Mapping[str, str] | None = None,
    future: pd.DataFrame | None = None,
    progress: Progress = _no_progress,
) -> ForecastResult:
    """Forecast every series of ``series`` ``config.horizon`` steps ahead (see module doc)."""
    config = config.checked()
    h, m = config.horizon, series.season_length
    started = time.perf_counter()
    frames = list(series.data.groupby("unique_id", sort=False))
    uids = [str(u) for u, _ in frames]
    arrays = [g["y"].to_numpy(dtype=float) for _, g in frames]
    group_of = np.array([str((groups or {}).get(u, "all")) for u in uids], dtype=object)
    nonnegative = np.array([bool(a.min() >= 0) for a in arrays])
    future_stamps = np.array(
        [np.asarray(future_ds(g["ds"].iloc[-1], h, series.freq)) for _, g in frames]
    )
    step = config.step or max(1, h // 2)
    backs = tuple(h + k * step for k in reversed(range(config.n_windows)))
    notes: dict[str, str] = {}

    # Which series are backtested: a seeded sample per group of those long enough.
    rng = np.random.default_rng(config.seed)
    sampled = np.zeros(len(uids), dtype=bool)
    if backs:
        need = min_length(m) + h
        for g in np.unique(group_of):
            eligible = np.flatnonzero((group_of == g) & np.array([len(a) >= need for a in arrays]))
            if len(eligible) > config.backtest_series:
                eligible = rng.choice(eligible, config.backtest_series, replace=False)
            sampled[eligible] = True

    local = tuple(x for x in config.members if x not in GLOBAL_MEMBERS)
    start = [g["ds"].iloc[0] if series.freq else None for _, g in frames]
    tasks = [
        SeriesTask(
            uids[i],
            arrays[i],
            h,
            m,
            local,
            backs if sampled[i] else (),
            bool(nonnegative[i]),
            start[i],
            series.freq,
        )
        for i in range(len(uids))
    ]
    running = _LocalRun(tasks, config.jobs, progress)
    seconds: dict[str, float] = {}

    # Global members, while the pool works: once on the full panel, once per cut-off.
    # One thread each, since the pool already keeps the other cores busy.
    global_final: dict[str, np.ndarray] = {}
    global_back: dict[str, dict[int, np.ndarray]] = {}
    T = max(len(a) for a in arrays)
    exog = _exogenous(series, future, h, T, notes)
    panel = _panel(series, arrays, future_stamps, h, exog)
    for name in (x for x in config.members if x in GLOBAL_MEMBERS):
        progress(0, len(uids), f"{name} (global model)")
        t0 = time.perf_counter()
        model = GlobalGBM(
            m,
            backend=name,
            country=config.country,
            seed=config.seed,
            n_jobs=1 if not running.inline else config.jobs,
        )
        global_final[name] = model.forecast(panel, h)
        global_back[name] = {
            k: model.forecast(panel.cut(back, h), h)
            for k, back in enumerate(backs)
            if sampled.any()
        }
        seconds[name] = time.perf_counter() - t0

    results = running.results()
    for r in results:
        for name, sec in r.seconds.items():
            seconds[name] = seconds.get(name, 0.0) + sec
        if r.note:
            notes[r.uid] = r.note

    # Assemble member forecasts per series; a global forecast that is missing (a series
    # too short for its lag window) falls back to seasonal naive.
    members = list(config.members)
    final = {name: np.zeros((len(uids), h)) for name in [*members, BASELINE]}
    for i, r in enumerate(results):
        for name in [*local, BASELINE]:
            final[name][i] = r.final[name]
        for name in global_final:
            row = global_final[name][i]
            if np.isnan(row).any() or (r.note and "observations" in r.note):
                row = r.final[BASELINE]
            final[name][i] = np.maximum(row, 0) if nonnegative[i] else row

    records, record_rows = _records(results, members, global_back, arrays, m, group_of, nonnegative)

    weights: dict[str, dict[str, float]] = {}
    candidates: dict[str, list[dict[str, Any]]] = {}
    pooled = ensemble.choose(records) if len(records) else None
    for g in np.unique(group_of):
        mine = records.subset(records.group == g) if len(records) else records
        if len(mine) >= ensemble.MIN_RECORDS:
            weights[g], candidates[g] = ensemble.choose(mine)
        elif pooled is not None:
            weights[g], candidates[g] = pooled
        else:
            weights[g] = {name: 1.0 / len(members) for name in members}
            candidates[g] = []

    point = np.zeros((len(uids), h))
    for i in range(len(uids)):
        point[i] = ensemble.combine({k: v[i] for k, v in final.items()}, weights[group_of[i]])
        if nonnegative[i]:
            point[i] = np.maximum(point[i], 0)

    scores, cum_scores, backtest = _calibrate(records, record_rows, weights, group_of, arrays, m, h)
    scale = np.array([_scale(a, m) for a in arrays])
    seconds["total"] = time.perf_counter() - started
    return ForecastResult(
        uids=uids,
        horizon=h,
        freq=series.freq,
        season_length=m,
        future=future_stamps,
        point=point,
        members={k: v for k, v in final.items()},
        groups=group_of,
        weights=weights,
        candidates=candidates,
        scores=scores,
        cum_scores=cum_scores,
        scale=scale,
        nonnegative=nonnegative,
        backtest=backtest,
        notes=notes,
        seconds=seconds,
    )


def _scale(y: np.ndarray, m: int) -> float:
    s = metrics.mase_scale(y, m)
    if not np.isfinite(s) or s <= 0:
        s = float(np.mean(np.abs(y))) or 1.0
    return s


def _records(
    results: list[SeriesResult],
    members: list[str],
    global_back: dict[str, dict[int, np.ndarray]],
    arrays: list[np.ndarray],
    m: int,
    group_of: np.ndarray,
    nonnegative: np.ndarray,
) -> tuple[ensemble.Records, list[tuple[str, int]]]:
    preds, actual, scale, group, base, rows = [], [], [], [], [], []
    for i, r in enumerate(results):
        for index, cut, window_preds, y_test in r.windows:
            stack = []
            for name in members:
                if name in global_back:
                    p = global_back[name][index][i]
                    if np.isnan(p).any():
                        p = window_preds[BASELINE]
                    elif nonnegative[i]:
                        p = np.maximum(p, 0)
                else:
                    p = window_preds[name]
                stack.append(p)
            preds.append(np.stack(stack))
            actual.append(y_test)
            scale.append(metrics.mase_scale(arrays[i][:cut], m))
            group.append(group_of[i])
            base.append(window_preds[BASELINE])
            rows.append((r.uid, index))
    h = results[0].final[BASELINE].shape[0] if results else 0
    k = len(members)
    return (
        ensemble.Records(
            tuple(members),
            np.array(preds).reshape(-1, k, h),
            np.array(actual).reshape(-1, h),
            np.array(scale, dtype=float),
            np.array(group, dtype=str),
            np.array(base).reshape(-1, h),
        ),
        rows,
    )


def _calibrate(
    records: ensemble.Records,
    rows: list[tuple[str, int]],
    weights: dict[str, dict[str, float]],
    group_of: np.ndarray,
    arrays: list[np.ndarray],
    m: int,
    h: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame]:
    """Conformal scores per group (per step and cumulative), and the backtest table."""
    members = records.members
    ens = np.zeros_like(records.actual)
    for r in range(len(records)):
        w = weights[records.group[r]]
        ens[r] = sum(w[name] * records.preds[r, members.index(name)] for name in w)
    safe = np.where(np.isfinite(records.scale) & (records.scale > 0), records.scale, np.nan)
    err = np.abs(records.actual - ens) / safe[:, None]
    cum = np.abs(np.cumsum(records.actual, axis=1) - np.cumsum(ens, axis=1)) / safe[:, None]
    ok = np.isfinite(err).all(axis=1)
    scores: dict[str, np.ndarray] = {}
    cum_scores: dict[str, np.ndarray] = {}
    pooled, pooled_cum = err[ok], cum[ok]
    if not len(pooled):
        # No backtest was possible (all series short): seasonal-naive in-sample errors,
        # widened with the square root of the step as a random walk's would be.
        naive = [np.abs(a[m:] - a[:-m]) / _scale(a, m) for a in arrays if len(a) > m] or [
            np.ones(1)
        ]
        base = np.concatenate(naive)
        pooled = base[:, None] * np.sqrt(np.arange(1, h + 1))[None, :]
        pooled_cum = base[:, None] * np.arange(1, h + 1)[None, :]
    for g in np.unique(group_of):
        mine = ok & (records.group == g) if len(records) else np.zeros(0, dtype=bool)
        enough = mine.sum() >= ensemble.MIN_RECORDS
        scores[g] = err[mine] if enough else pooled
        cum_scores[g] = cum[mine] if enough else pooled_cum

    table = []
    for r, (uid, window) in enumerate(rows):
        y = records.actual[r]
        train_scale = records.scale[r]
        candidates = {name: records.preds[r, k] for k, name in enumerate(members)}
        candidates[BASELINE] = records.baseline[r]
        candidates[ENSEMBLE] = ens[r]
        for name, f in candidates.items():
            mae = float(np.mean(np.abs(y - f)))
            table.append(
                {
                    "unique_id": uid,
                    "window": window,
                    "model": name,
                    "smape": metrics.smape(y, f),
                    "mase": mae / train_scale if train_scale and train_scale > 0 else np.nan,
                    "mae": mae,
                    "rmse": metrics.rmse(y, f),
                    "mape": metrics.mape(y, f),
                }
            )
    return scores, cum_scores, pd.DataFrame(table)


__all__ = ["ForecastConfig", "ForecastResult", "forecast", "seasonal_naive"]
