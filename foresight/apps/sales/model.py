"""Sales training spec (the forecasting engine through the platform pipeline, gated on
the seed's last-30-days holdout) and the seasonal-naive rule fallback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.sales.features import HOLDOUT, SEASON, unit_prices
from foresight.platform.forecasting import metrics
from foresight.platform.forecasting.engine import ForecastConfig, ForecastResult, forecast
from foresight.platform.forecasting.series import SeriesFrame
from foresight.platform.registry import ModelVersion
from foresight.platform.training import Described, Fitted, TrainingContext

MODEL_NAME = "sales"


@dataclass
class SalesModel:
    """What a trained sales model version holds (the registry artifact)."""

    result: ForecastResult
    trained_until: date
    unit_price: dict[str, float]
    products: dict[str, dict[str, str]]  # product_id -> {name, category}


@dataclass(frozen=True)
class SeasonalNaiveRule:
    """The rule baseline: the last week repeated, computed from the latest data on each
    request (it needs no artifact, so it also answers before any model is trained)."""

    season_length: int = SEASON


def rule_from_version(mv: ModelVersion) -> SeasonalNaiveRule:
    return SeasonalNaiveRule(int(mv.fallback.get("season_length", SEASON)))


def default_rule() -> SeasonalNaiveRule:
    return SeasonalNaiveRule()


@dataclass
class SalesDataset:
    series: SeriesFrame
    groups: dict[str, str]
    daily: pd.DataFrame
    products: dict[str, dict[str, str]]
    fingerprint: str
    holdout: dict[str, Any] = field(default_factory=dict)


class SalesTrainingSpec:
    """Sales through the pipeline: the gate compares holdout MASE on the last 30 days."""

    model_name = MODEL_NAME
    gate_metric = "holdout_mase"
    higher_is_better = False
    gate_tolerance = 0.02

    def __init__(
        self, load: Callable[[], SalesDataset], config: Callable[..., ForecastConfig]
    ) -> None:
        self._load = load  # () -> the dataset, checked
        self._config = config  # (horizon=, n_windows=) -> the engine's configuration

    def validate(self, ctx: TrainingContext) -> SalesDataset:
        return self._load()

    def features(self, data: SalesDataset, ctx: TrainingContext) -> SalesDataset:
        return data

    def tune(self, dataset: SalesDataset, ctx: TrainingContext) -> dict[str, Any]:
        return {}  # ensemble weights are chosen on the engine's own backtest, in fit

    def fit(self, dataset: SalesDataset, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        config = self._config()

        def progress(done: int, total: int, message: str) -> None:
            ctx.progress("fit", done / max(total, 1), message)

        result = forecast(dataset.series, config, groups=dataset.groups, progress=progress)
        last = dataset.series.data["ds"].max().date()
        model = SalesModel(
            result=result,
            trained_until=last,
            unit_price=unit_prices(dataset.daily, last),
            products=dataset.products,
        )
        return Fitted(
            model,
            algorithm="ensemble(" + ",".join(config.members) + ")",
            params={
                "horizon": config.horizon,
                "members": list(config.members),
                "windows": config.n_windows,
                "country": config.country,
                "weights": result.weights,
            },
        )

    def evaluate(
        self, fitted: Fitted, dataset: SalesDataset, ctx: TrainingContext
    ) -> dict[str, Any]:
        """Holdout = the last 30 days: every member refitted on the data before them."""
        model: SalesModel = fitted.model
        data = dataset.series.data
        cut = data["ds"].max() - pd.Timedelta(days=HOLDOUT)
        train = SeriesFrame(data[data["ds"] <= cut].reset_index(drop=True), "D", SEASON)
        held = data[data["ds"] > cut]
        config = self._config(horizon=HOLDOUT, n_windows=0)
        hold = forecast(train, config)
        actual = np.stack([held.loc[held["unique_id"] == uid, "y"].to_numpy() for uid in hold.uids])
        dataset.holdout = {
            "uids": hold.uids,
            "actual": actual,
            "members": hold.members,
            "train": {uid: g["y"].to_numpy() for uid, g in train.data.groupby("unique_id")},
        }
        score = self._holdout(
            dataset, model.result.weights, dict(zip(hold.uids, model.result.groups, strict=True))
        )
        summary = model.result.summary()
        ens = summary[summary["model"] == "ensemble"]
        out = {f"holdout_{k}": v for k, v in score.items()}
        if len(ens):
            out["backtest_smape"] = float(ens["smape"].iloc[0])
            out["backtest_mase"] = float(ens["mase"].iloc[0])
        return out

    def _holdout(
        self, dataset: SalesDataset, weights: dict[str, dict[str, float]], groups: dict[str, str]
    ) -> dict[str, float]:
        h = dataset.holdout
        rows = []
        for i, uid in enumerate(h["uids"]):
            w = weights.get(groups.get(uid, "product")) or next(iter(weights.values()))
            if any(name not in h["members"] for name in w):
                raise KeyError("members differ")
            pred = sum(wt * h["members"][name][i] for name, wt in w.items())
            rows.append(
                metrics.all_metrics(h["actual"][i], np.maximum(pred, 0), h["train"][uid], SEASON)
            )
        frame = pd.DataFrame(rows)
        return {
            "mase": float(np.nanmean(frame["mase"])),
            "smape": float(frame["smape"].mean()),
            "mae": float(frame["mae"].mean()),
        }

    def describe(self, fitted: Fitted, dataset: SalesDataset) -> Described:
        model: SalesModel = fitted.model
        return Described(
            signature={
                "series": len(model.result.uids),
                "frequency": "D",
                "horizon": model.result.horizon,
                "trained_until": model.trained_until.isoformat(),
                "exogenous": dataset.series.exogenous,
            },
            fallback={"kind": "seasonal_naive", "season_length": SEASON},
            data_fingerprint=dataset.fingerprint,
        )

    def score(self, model: Any, dataset: SalesDataset) -> float | None:
        """Production's weights on the same holdout forecasts (None if its members differ)."""
        if not isinstance(model, SalesModel):
            return None
        try:
            return self._holdout(dataset, model.result.weights, dataset.groups)["mase"]
        except KeyError:
            return None


def predicted_on(model: SalesModel, uid: str, day: date) -> float | None:
    """The stored forecast of series ``uid`` for ``day``, if the model covers that day."""
    step = (day - model.trained_until).days - 1
    if step < 0 or step >= model.result.horizon or uid not in model.result.uids:
        return None
    return float(model.result.point[model.result.index(uid), step])


def window_sum(
    model: SalesModel, row: int, offset: int, days: int, level: float
) -> tuple[float, float, float]:
    """Units over steps offset..offset+days with a conformal interval for the total."""
    result = model.result
    if offset == 0:
        return result.sum_bounds(row, days, level)
    total = float(result.point[row, offset : offset + days].sum())
    _, lo, hi = result.sum_bounds(row, days, level)
    half = (hi - lo) / 2
    return total, max(total - half, 0.0), total + half


def backtest_report(model: SalesModel, label: str) -> dict[str, Any]:
    """The model's rolling-origin backtest: metrics per series group and member."""
    result, table = model.result, model.result.backtest
    per_group = []
    if not table.empty:
        table = table.assign(
            group=table["unique_id"].map(dict(zip(result.uids, result.groups, strict=True)))
        )
        for (group, name), part in table.groupby(["group", "model"]):
            per_group.append(
                {
                    "group": group,
                    "model": name,
                    "smape": round(float(part["smape"].mean()), 3),
                    "mase": round(float(np.nanmean(part["mase"])), 4),
                    "mae": round(float(part["mae"].mean()), 4),
                    "rmse": round(float(part["rmse"].mean()), 4),
                    "forecasts": len(part),
                }
            )
    return {
        "model_version": label,
        "trained_until": model.trained_until.isoformat(),
        "horizon_days": result.horizon,
        "windows": int(table["window"].nunique()) if not table.empty else 0,
        "weights": result.weights,
        "metrics": sorted(per_group, key=lambda r: (r["group"], r["smape"])),
        "candidates": {g: c[:10] for g, c in result.candidates.items()},
    }
