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

``closed`` (a callable from time stamps to "closed" booleans) marks closed periods: zeros
there, left out of weights and intervals, filled in the history the local members are
fitted on (:mod:`.closed`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import ensemble
from foresight.platform.forecasting.baselines import future_ds
from foresight.platform.forecasting.calibration import (
    backtest_records,
    calibrate,
    error_scale,
)
from foresight.platform.forecasting.closed import (
    ClosedFn,
    closed_steps,
    fill_closed,
    zero_closed,
)
from foresight.platform.forecasting.gbm import GlobalGBM, Panel, level_window
from foresight.platform.forecasting.local import (
    BASELINE,
    SeriesResult,
    SeriesTask,
    min_length,
    run_chunk,
    seasonal_naive,
)
from foresight.platform.forecasting.result import ForecastResult
from foresight.platform.forecasting.series import SeriesFrame

DEFAULT_MEMBERS = ("auto_ets", "theta", "ces", "lightgbm")
GLOBAL_MEMBERS = ("lightgbm", "xgboost")
KNOWN_MEMBERS = ("auto_ets", "theta", "standard_theta", "ces", "lightgbm", "xgboost", "prophet")
PLUGINS = {"xgboost": "xgboost", "prophet": "prophet"}  # member -> module of the extra
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
    closed: ClosedFn | None = None,
) -> ForecastResult:
    """Forecast every series of ``series`` ``config.horizon`` steps ahead (see module doc).

    ``closed`` maps datetime64 stamps to booleans (True = closed); None = always open.
    """
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

    T = max(len(a) for a in arrays)
    exog = _exogenous(series, future, h, T, notes)
    panel = _panel(series, arrays, future_stamps, h, exog)
    shut = None
    if closed is not None:
        shut = closed_steps(closed, panel.dates, lengths=[len(a) for a in arrays], horizon=h)
        # Nothing closed at all changes nothing: the output stays identical to closed=None.
        panel.closed = shut.panel if shut.anywhere else None
    hist = shut.history if shut is not None and shut.in_history else None
    # Local members see closed steps filled (closed.fill_closed); the global one sees the
    # zeros with its `open` feature.
    local = tuple(x for x in config.members if x not in GLOBAL_MEMBERS)
    cycle = level_window(m, series.freq)
    start = [g["ds"].iloc[0] if series.freq else None for _, g in frames]
    tasks = [
        SeriesTask(
            uids[i],
            arrays[i] if hist is None else fill_closed(arrays[i], hist[i], cycle),
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

    records, record_rows = backtest_records(
        results, members, global_back, arrays, m, group_of, nonnegative, hist
    )

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
    if shut is not None:
        point = zero_closed(point, shut.future)
        final = {k: zero_closed(v, shut.future) for k, v in final.items()}

    scores, cum_scores, backtest = calibrate(
        records, record_rows, weights, group_of, arrays, m, h, hist
    )
    scale = np.array(
        [error_scale(a, m, mask=None if hist is None else ~hist[i]) for i, a in enumerate(arrays)]
    )
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
        closed=None if shut is None else shut.future,
    )


__all__ = ["ForecastConfig", "ForecastResult", "forecast", "seasonal_naive"]
