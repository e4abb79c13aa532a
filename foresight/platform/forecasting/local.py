"""Per-series ("local") models and the work done for one series in a worker process.

Each series is fitted independently, so this module is what runs in the process pool:
:func:`run_series` takes one series' values and returns every member's forecast for the
final horizon plus, when asked, its rolling-origin backtest forecasts.

AutoETS is the expensive member (it searches ~30 model forms per series). The backtest
searches once, at the oldest cut-off, and refits only the chosen form at later cut-offs;
the final forecast always comes from a full search on the whole series. That keeps every
backtest forecast honest (nothing after its cut-off is seen) at about one extra search.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Models that run per series; the global LightGBM member lives in gbm.py.
LOCAL_MEMBERS = ("auto_ets", "theta", "ces")
BASELINE = "seasonal_naive"


def min_length(season_length: int) -> int:
    """Shortest series the statistical models are fitted on; shorter ones fall back."""
    return max(2 * season_length + 2, 8)


def seasonal_naive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """Repeat the last season (the last value when the series is shorter than a season)."""
    tail = y[-m:] if len(y) >= m else y[-1:]
    return np.resize(tail, h).astype(float)


def _ets(y: np.ndarray, h: int, m: int, spec: str | None) -> tuple[np.ndarray, str]:
    from statsforecast.models import AutoETS

    if spec is None:
        model = AutoETS(season_length=m).fit(y)
    else:
        error, trend, season = spec.split(",")
        model = AutoETS(
            season_length=m, model=error + trend[0] + season, damped=trend.endswith("d")
        ).fit(y)
    method = model.model_["method"]  # e.g. "ETS(M,Ad,N)"
    return np.asarray(model.predict(h)["mean"], dtype=float), method[4:-1]


def _theta(y: np.ndarray, h: int, m: int) -> np.ndarray:
    from statsforecast.models import DynamicOptimizedTheta

    return np.asarray(DynamicOptimizedTheta(season_length=m).forecast(y, h)["mean"], dtype=float)


def _standard_theta(y: np.ndarray, h: int, m: int) -> np.ndarray:
    from statsforecast.models import Theta

    return np.asarray(Theta(season_length=m).forecast(y, h)["mean"], dtype=float)


def _ces(y: np.ndarray, h: int, m: int) -> np.ndarray:
    from statsforecast.models import AutoCES

    return np.asarray(AutoCES(season_length=m).forecast(y, h)["mean"], dtype=float)


PROPHET_FREQ = {1: "YS", 4: "QS", 12: "MS", 7: "D", 24: "h", 52: "W"}


def _prophet(y: np.ndarray, h: int, m: int, start: Any, freq: str | None) -> np.ndarray:
    """Prophet (optional extra), configured the way its docs suggest for the frequency."""
    import logging

    import pandas as pd
    from prophet import Prophet

    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.ERROR)
    freq = freq or PROPHET_FREQ.get(m, "D")
    start = start if start is not None else pd.Timestamp("2000-01-01")
    ds = pd.date_range(start, periods=len(y), freq=freq)
    daily = freq.upper().startswith(("D", "B", "H"))
    model = Prophet(
        yearly_seasonality=(m > 1 and not daily) or len(y) >= 2 * 365,
        weekly_seasonality=daily,
        daily_seasonality=freq.upper().startswith("H"),
        uncertainty_samples=0,
    )
    model.fit(pd.DataFrame({"ds": ds, "y": y}))
    future = pd.DataFrame({"ds": pd.date_range(ds[-1], periods=h + 1, freq=freq)[1:]})
    return np.asarray(model.predict(future)["yhat"], dtype=float)


_SIMPLE: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "theta": _theta,
    "standard_theta": _standard_theta,
    "ces": _ces,
    BASELINE: seasonal_naive,
}


@dataclass
class SeriesTask:
    """One series' job: values, horizon, season, members and the backtest cut-offs."""

    uid: str
    y: np.ndarray
    horizon: int
    season_length: int
    members: tuple[str, ...]
    backs: tuple[int, ...] = ()  # steps held back at each cut-off, oldest cut-off first
    nonnegative: bool = False
    start: Any = None  # first time stamp (dated series), for Prophet
    freq: str | None = None


@dataclass
class SeriesResult:
    uid: str
    final: dict[str, np.ndarray]
    # (window index, train length, member forecasts, actual values)
    windows: list[tuple[int, int, dict[str, np.ndarray], np.ndarray]] = field(default_factory=list)
    ets_form: str | None = None
    note: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # fitting time per member


def _forecast_all(
    y: np.ndarray,
    h: int,
    m: int,
    members: tuple[str, ...],
    ets_spec: str | None,
    seconds: dict[str, float],
    task: SeriesTask | None = None,
) -> tuple[dict[str, np.ndarray], str | None, list[str]]:
    """Every member's forecast from ``y``; a member that fails is replaced and reported."""
    out: dict[str, np.ndarray] = {BASELINE: seasonal_naive(y, h, m)}
    form: str | None = None
    failed: list[str] = []
    for name in members:
        started = time.perf_counter()
        try:
            if name == "auto_ets":
                out[name], form = _ets(y, h, m, ets_spec)
            elif name in _SIMPLE:
                out[name] = _SIMPLE[name](y, h, m)
            elif name == "prophet":
                start, freq = (task.start, task.freq) if task else (None, None)
                out[name] = _prophet(y, h, m, start, freq)
            else:
                continue  # a global member, fitted elsewhere
            if not np.all(np.isfinite(out[name])):
                raise FloatingPointError("non-finite forecast")
        except Exception:
            out[name] = out[BASELINE]
            failed.append(name)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
    return out, form, failed


def run_series(task: SeriesTask) -> SeriesResult:
    """Backtest (if asked) and final forecasts of every local member for one series."""
    y, h, m = task.y, task.horizon, task.season_length
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(y) < min_length(m):
            # Too short to estimate a trend and a season: every member becomes seasonal naive.
            fallback = seasonal_naive(y, h, m)
            final = {name: fallback for name in (*task.members, BASELINE)}
            note = (
                f"{len(y)} observations (< {min_length(m)}): "
                f"{'seasonal naive' if len(y) >= m > 1 else 'last value'} used"
            )
            return SeriesResult(task.uid, _clip(final, task.nonnegative), note=note)
        windows: list[tuple[int, int, dict[str, np.ndarray], np.ndarray]] = []
        seconds: dict[str, float] = {}
        spec: str | None = None
        for index, back in enumerate(task.backs):
            cut = len(y) - back
            if cut < min_length(m):
                continue
            preds, form, _ = _forecast_all(y[:cut], h, m, task.members, spec, seconds, task)
            spec = spec or form  # search at the oldest usable cut-off, refit that form later
            windows.append((index, cut, _clip(preds, task.nonnegative), y[cut : cut + h]))
        final, form, failed = _forecast_all(y, h, m, task.members, None, seconds, task)
    if failed:
        notes.append(f"{', '.join(failed)} failed to fit; seasonal naive used in its place")
    return SeriesResult(
        task.uid,
        _clip(final, task.nonnegative),
        windows,
        ets_form=form,
        note="; ".join(notes) or None,
        seconds=seconds,
    )


def run_chunk(tasks: list[SeriesTask]) -> list[SeriesResult]:
    """A pool work unit: several series per round trip keeps IPC overhead small."""
    return [run_series(t) for t in tasks]


def _clip(preds: dict[str, np.ndarray], nonnegative: bool) -> dict[str, np.ndarray]:
    if not nonnegative:
        return preds
    return {k: np.maximum(v, 0.0) for k, v in preds.items()}


def warm_up() -> Any:
    """Compile statsforecast's numba code once (cached on disk afterwards)."""
    y = np.sin(np.arange(40) / 3.0) + 10 + np.arange(40) * 0.1
    return run_series(SeriesTask("warm", y, 4, 4, LOCAL_MEMBERS, backs=(4,)))
