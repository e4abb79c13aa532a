"""Demand: orders and items per hour and per day through the forecasting engine, with
opening hours (closed slots are zero and left out of weights, intervals and scores).

Training materialises hourly and daily forecasts; a request slices them. Totals and
categories per day come straight from the engine; per hour they are the hourly engine's
shape within each day scaled to the daily forecast of that day (temporal top-down
reconciliation, ``platform.forecasting.temporal``: on the pizza year it took hourly
MASE from level with AutoETS to below it; ``benchmarks/restaurant_demand.py``). An item
per hour is top-down too (its daily forecast × its hour-of-week share), which the answer
says (``method: top_down``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd

from foresight.apps.restaurant.features import DemandData
from foresight.apps.restaurant.hours import OpeningHours
from foresight.apps.restaurant.model import (
    DEMAND,
    SEASON_DAILY,
    SEASON_HOURLY,
    DemandModel,
    describe_fallback,
)
from foresight.platform.forecasting import metrics
from foresight.platform.forecasting.baselines import seasonal_naive_path
from foresight.platform.forecasting.engine import ForecastConfig, ForecastResult, forecast
from foresight.platform.forecasting.series import SeriesFrame, validate
from foresight.platform.forecasting.temporal import reconcile_top_down
from foresight.platform.training import Described, Fitted, TrainingContext

GRANULARITIES = ("hour", "day")


@dataclass
class DemandConfig:
    hourly_horizon_days: int
    daily_horizon_days: int
    holdout_days: int
    country: str | None
    seed: int


@dataclass
class DemandDataset:
    data: DemandData
    opening: OpeningHours
    hourly: SeriesFrame
    daily: SeriesFrame
    holdout: dict[str, Any] = field(default_factory=dict)


def _closed(
    opening: OpeningHours, freq: Literal["h", "D"], dark_days: list[pd.Timestamp] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Closed by the opening hours, or (in the history) a day without any order."""
    dark = np.array(sorted(dark_days or []), dtype="datetime64[D]")
    if not len(dark):
        return partial(opening.closed_mask, freq=freq)

    def closed(stamps: np.ndarray) -> np.ndarray:
        days = np.asarray(stamps).astype("datetime64[D]")
        return opening.closed_mask(stamps, freq=freq) | np.isin(days, dark)

    return closed


class DemandTrainingSpec:
    """Demand through the pipeline, gated on the mean of hourly and daily holdout MASE
    (open slots only) over the last ``holdout_days``."""

    model_name = DEMAND
    gate_metric = "holdout_mase"
    higher_is_better = False
    gate_tolerance = 0.02

    def __init__(
        self, load: Callable[[], DemandData], opening: OpeningHours, config: DemandConfig
    ) -> None:
        self._load = load
        self.opening = opening
        self.config = config

    def _engine(self, granularity: str, horizon: int, n_windows: int) -> ForecastConfig:
        return ForecastConfig(
            horizon=horizon,
            n_windows=n_windows,
            # Hourly backtest windows do not overlap (a window per horizon), so the
            # ensemble is chosen on distinct weeks rather than one week seen 7 times.
            step=horizon if granularity == "hour" else SEASON_DAILY,
            country=self.config.country or None,
            seed=self.config.seed,
        )

    def horizon(self, granularity: str) -> int:
        c = self.config
        return c.hourly_horizon_days * 24 if granularity == "hour" else c.daily_horizon_days

    def validate(self, ctx: TrainingContext) -> DemandData:
        return self._load()

    def features(self, data: DemandData, ctx: TrainingContext) -> DemandDataset:
        return DemandDataset(
            data=data,
            opening=self.opening,
            hourly=validate(data.hourly, freq="h"),
            daily=validate(data.daily, freq="D"),
        )

    def tune(self, dataset: DemandDataset, ctx: TrainingContext) -> dict[str, Any]:
        return {}  # members and weights are chosen on the engine's own backtest

    def _series(self, dataset: DemandDataset, granularity: str) -> SeriesFrame:
        return dataset.hourly if granularity == "hour" else dataset.daily

    def forecasts(
        self,
        dataset: DemandDataset,
        granularities: tuple[str, ...] = GRANULARITIES,
        progress: Callable[[float, str], None] | None = None,
    ) -> dict[str, ForecastResult]:
        """The engine's forecast per granularity; with both, the hourly one reconciled to
        the daily one (whole days add up to the daily forecast). ``fit`` and the demand
        benchmark both call this, so the benchmark scores exactly what the app serves."""
        results: dict[str, ForecastResult] = {}
        for i, granularity in enumerate(granularities):

            def step(done: int, total: int, message: str, i: int = i) -> None:
                if progress is not None:
                    progress((i + done / max(total, 1)) / len(granularities), message)

            freq: Literal["h", "D"] = "h" if granularity == "hour" else "D"
            results[granularity] = forecast(
                self._series(dataset, granularity),
                self._engine(granularity, self.horizon(granularity), 2),
                groups=dataset.data.groups,
                closed=_closed(dataset.opening, freq, dataset.data.dark_days),
                progress=step,
            )
        if "hour" in results and "day" in results:
            results["hour"] = reconcile_top_down(results["hour"], results["day"], steps=24)
        return results

    def fit(self, dataset: DemandDataset, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        results = self.forecasts(
            dataset, progress=lambda fraction, message: ctx.progress("fit", fraction, message)
        )
        data = dataset.data
        model = DemandModel(
            hourly=results["hour"],
            daily=results["day"],
            hourly_until=data.hourly_until,
            daily_until=data.daily_until,
            items=data.items,
            hour_profile=data.hour_profile,
            opening_hours=dataset.opening.describe(),
        )
        return Fitted(
            model,
            algorithm="ensemble(" + ",".join(ForecastConfig(horizon=1).members) + ")",
            params={
                "hourly_horizon": self.horizon("hour"),
                "daily_horizon": self.horizon("day"),
                "weights_hourly": results["hour"].weights,
                "weights_daily": results["day"].weights,
                "opening_hours": dataset.opening.describe(),
            },
        )

    def evaluate(
        self, fitted: Fitted, dataset: DemandDataset, ctx: TrainingContext
    ) -> dict[str, Any]:
        """The last ``holdout_days`` (hourly: at most its horizon) held out, every member
        refitted on the data before them; MASE and sMAPE on open slots only. The hourly
        holdout scores the hourly ensemble before reconciliation (the daily holdout's
        origin is another), so for the gate it is a slightly pessimistic figure."""
        model: DemandModel = fitted.model
        out: dict[str, Any] = {}
        for granularity in GRANULARITIES:
            days = self.config.holdout_days
            if granularity == "hour":
                days = min(days, self.config.hourly_horizon_days)
            steps = days * 24 if granularity == "hour" else days
            series = self._series(dataset, granularity)
            freq: Literal["h", "D"] = "h" if granularity == "hour" else "D"
            data = series.data
            cut = data["ds"].max() - (
                pd.Timedelta(hours=steps) if freq == "h" else pd.Timedelta(days=steps)
            )
            train = SeriesFrame(
                data[data["ds"] <= cut].reset_index(drop=True), freq, series.season_length
            )
            held = data[data["ds"] > cut]
            hold = forecast(
                train,
                self._engine(granularity, steps, 0),
                groups=dataset.data.groups,
                closed=_closed(dataset.opening, freq, dataset.data.dark_days),
            )
            stamps = held.loc[held["unique_id"] == hold.uids[0], "ds"].to_numpy()
            train_stamps = train.data.loc[train.data["unique_id"] == hold.uids[0], "ds"].to_numpy()
            dataset.holdout[granularity] = {
                "uids": hold.uids,
                "actual": np.stack(
                    [held.loc[held["unique_id"] == u, "y"].to_numpy() for u in hold.uids]
                ),
                "members": hold.members,
                "train": {u: g["y"].to_numpy() for u, g in train.data.groupby("unique_id")},
                "open": ~_closed(dataset.opening, freq, dataset.data.dark_days)(stamps),
                "train_open": ~_closed(dataset.opening, freq, dataset.data.dark_days)(train_stamps),
                "season": SEASON_HOURLY if freq == "h" else SEASON_DAILY,
            }
            score = self._holdout(dataset, granularity, model.result(granularity))
            for key, value in score.items():
                out[f"holdout_{key}_{'hourly' if freq == 'h' else 'daily'}"] = value
        out["holdout_mase"] = float(
            np.mean([out["holdout_mase_hourly"], out["holdout_mase_daily"]])
        )
        return out

    def _holdout(
        self, dataset: DemandDataset, granularity: str, result: ForecastResult
    ) -> dict[str, float]:
        h = dataset.holdout[granularity]
        groups = dict(zip(result.uids, result.groups, strict=True))
        rows, naive = [], []
        for i, uid in enumerate(h["uids"]):
            w = result.weights.get(str(groups.get(uid, "all"))) or next(
                iter(result.weights.values())
            )
            if any(name not in h["members"] for name in w):
                raise KeyError("members differ")
            pred = np.where(
                h["open"], np.maximum(sum(wt * h["members"][n][i] for n, wt in w.items()), 0), 0
            )
            train = h["train"][uid]
            kw = {"mask": h["open"], "train_mask": h["train_open"]}
            rows.append(metrics.all_metrics(h["actual"][i], pred, train, h["season"], **kw))
            snaive = seasonal_naive_path(pd.Series(train), len(pred), 80.0, season=h["season"])[0]
            naive.append(
                metrics.all_metrics(
                    h["actual"][i], np.where(h["open"], snaive, 0), train, h["season"], **kw
                )
            )
        frame, base = pd.DataFrame(rows), pd.DataFrame(naive)
        return {
            "mase": float(np.nanmean(frame["mase"])),
            "smape": float(np.nanmean(frame["smape"])),
            "mase_seasonal_naive": float(np.nanmean(base["mase"])),
        }

    def describe(self, fitted: Fitted, dataset: DemandDataset) -> Described:
        model: DemandModel = fitted.model
        return Described(
            signature={
                "series_hourly": len(model.hourly.uids),
                "series_daily": len(model.daily.uids),
                "hourly_horizon": model.hourly.horizon,
                "daily_horizon": model.daily.horizon,
                "hourly_until": model.hourly_until.isoformat(),
                "daily_until": model.daily_until.isoformat(),
                "opening_hours": model.opening_hours,
            },
            fallback=describe_fallback(),
            data_fingerprint=dataset.data.fingerprint,
        )

    def score(self, model: Any, dataset: DemandDataset) -> float | None:
        """Production's weights on the same holdout forecasts (None if its members differ)."""
        if not isinstance(model, DemandModel) or not dataset.holdout:
            return None
        try:
            values = [self._holdout(dataset, g, model.result(g))["mase"] for g in GRANULARITIES]
        except KeyError:
            return None
        return float(np.mean(values))
