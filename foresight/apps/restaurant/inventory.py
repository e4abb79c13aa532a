"""Inventory model: how far ingredient usage (demand forecast × recipes) strays from its
forecast, learnt by rolling origin, and the reorder advice built on it (``reorder.py``).

Weeks count back from the last day T: week j holds the decision days T−7j−6 … T−7j, served
by the forecast cut at T−7j−7. Training calibrates on weeks 0–3; evaluation on weeks 4–7
(actuals up to T−28), holding weeks 0–3 out. Per ingredient and horizon k the model keeps
quantiles of Σ₁ᵏ(actual − forecast) over its mean daily usage (unit-free).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.restaurant.reorder import (
    Batch,
    ErrorQuantiles,
    NormalRule,
    advise,
    cumulative_usage,
    safety_stock,
)
from foresight.apps.restaurant.usage import item_wide, spell_sizes, usage_wide
from foresight.platform.errors import InvalidInput, NotFound, did_you_mean
from foresight.platform.registry import ModelVersion
from foresight.platform.training import Described, Fitted, TrainingContext

INVENTORY = "restaurant_inventory"
LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
TARGET = 0.95  # the service level the gate judges
WEEKS, STEP = 4, 7  # calibration windows and days between cut-offs
HOLDOUT_DAYS = WEEKS * STEP
MIN_HISTORY_DAYS = 2 * HOLDOUT_DAYS + 14  # eight weeks of windows, two before the first cut
NO_UNCERTAINTY = "no uncertainty estimate"

Forecaster = Callable[[pd.DataFrame, int], pd.DataFrame]
"""``(history: days × items up to a cut-off, horizon) -> the next horizon days × items``."""


@dataclass
class InventoryData:
    """One training's inputs. ``daily``: actual item units per local day, in a shape
    :func:`item_wide` reads. ``shares``: item_id, size, share (last 8 weeks). ``recipes``:
    item_id, size ("" = every size), ingredient_id, quantity. ``ingredients``:
    ingredient_id, name, unit, lead_time_days, pack_size, min_order_qty."""

    daily: pd.DataFrame
    shares: pd.DataFrame
    recipes: pd.DataFrame
    ingredients: pd.DataFrame
    forecaster: Forecaster
    closed: Callable[[np.ndarray], np.ndarray] | None = None  # day stamps -> closed
    review_days: int = 1
    default_lead_time_days: float = 2.0
    fingerprint: str = ""


@dataclass
class InventoryDataset:
    data: InventoryData
    items: pd.DataFrame  # days × items, actual units
    usage: pd.DataFrame  # days × ingredients, actual usage
    recipes: pd.DataFrame  # "" sizes spelled out
    lead_days: dict[str, int]  # whole days, at least 1
    horizon: int  # K: the longest lead time + review, at least a week
    until: pd.Timestamp  # T, the last day of data
    forecasts: dict[int, pd.DataFrame] = field(default_factory=dict)  # week -> usage


@dataclass
class InventoryModel:
    """Per ingredient, ``quantiles[i][k]`` (one per level) of the k-day cumulative usage
    error divided by ``scale[i]``, the ingredient's mean daily usage."""

    quantiles: dict[str, dict[int, list[float]]]
    levels: tuple[float, ...]
    scale: dict[str, float]
    trained_until: pd.Timestamp

    method = "conformal"

    def error_quantiles(self, ingredient_id: str) -> ErrorQuantiles | None:
        """The ingredient's error quantiles in its own unit; None for an unknown one."""
        if ingredient_id not in self.quantiles:
            return None
        s = self.scale[ingredient_id]
        values = {k: tuple(v * s for v in q) for k, q in self.quantiles[ingredient_id].items()}
        return ErrorQuantiles(levels=tuple(self.levels), values=values)


@dataclass(frozen=True)
class InventoryRule:
    """Rule link: per ingredient, mean daily usage and its sd (z·σ·√L)."""

    mean: dict[str, float]
    sd: dict[str, float]

    method = "normal_rule"


@dataclass(frozen=True)
class InventoryDefault:
    """Default link: reorder point = mean usage × lead time, no safety stock."""

    method = "default"


Link = InventoryModel | InventoryRule | InventoryDefault


def inventory_rule(mv: ModelVersion) -> InventoryRule:
    fb = mv.fallback or {}
    return InventoryRule(dict(fb.get("mean") or {}), dict(fb.get("sd") or {}))


def _forecast_week(ds: InventoryDataset, week: int) -> pd.DataFrame:
    """Usage forecast (days × ingredients) from week ``week``'s cut-off, made once."""
    if week not in ds.forecasts:
        cut = ds.until - pd.Timedelta(days=STEP * (week + 1))
        history = ds.items.loc[:cut]
        h = ds.horizon + STEP - 1  # the oldest forecast still looks K days ahead
        raw = ds.data.forecaster(history, h)
        if len(raw) < h or set(history.columns) - set(raw.columns):
            raise InvalidInput(f"the forecaster must give {h} days of every item: {raw.shape}")
        raw = raw[history.columns]
        days = pd.date_range(cut + pd.Timedelta(days=1), periods=h, freq="D")
        values = np.maximum(np.nan_to_num(raw.to_numpy(dtype=float)[:h]), 0.0)
        if ds.data.closed is not None:
            values[np.asarray(ds.data.closed(days.to_numpy()), dtype=bool)] = 0.0
        items = pd.DataFrame(values, index=days, columns=history.columns)
        ds.forecasts[week] = usage_wide(items, ds.data.shares, ds.recipes, list(ds.usage.columns))
    return ds.forecasts[week]


def _cumulative(ds: InventoryDataset, week: int, end: pd.Timestamp) -> tuple[np.ndarray, ...]:
    """Cumulative forecast and actual usage from the week's cut-off, (h+1) × ingredients
    with a leading zero row; actual rows after ``end`` are unknown (NaN)."""
    fc = _forecast_week(ds, week)
    actual = ds.usage.reindex(fc.index).to_numpy(dtype=float)
    actual[fc.index > end] = np.nan
    zero = np.zeros((1, fc.shape[1]))
    return np.vstack([zero, fc.to_numpy().cumsum(0)]), np.vstack([zero, actual.cumsum(0)])


def calibrate(ds: InventoryDataset, weeks: Sequence[int], end: pd.Timestamp) -> InventoryModel:
    """Quantiles of Σ₁ᵏ(actual − forecast) over the decision days of ``weeks`` whose k days
    end by ``end``, at rank α(n+1) of n, interpolated (Weibull): the conformal rank not
    rounded up, so coverage is α on average rather than above it."""
    names = list(ds.usage.columns)
    samples: dict[int, list[np.ndarray]] = {k: [] for k in range(1, ds.horizon + 1)}
    for week in weeks:
        f, a = _cumulative(ds, week, end)
        for k in samples:  # one row per decision day: its forecast is 0 to 6 days old
            rows = (a - f)[k : k + STEP] - (a - f)[:STEP]
            samples[k].extend(rows[~np.isnan(rows).any(axis=1)])
    recent = ds.usage.loc[end - pd.Timedelta(days=HOLDOUT_DAYS - 1) : end].mean()
    # An ingredient unused of late keeps its quantiles in its own unit (scale 1).
    scale = {i: float(recent[i]) if recent[i] > 0 else 1.0 for i in names}
    quantiles: dict[str, dict[int, list[float]]] = {i: {} for i in names}
    for k, rows in ((k, rows) for k, rows in samples.items() if rows):
        q = np.quantile(np.array(rows), LEVELS, axis=0, method="weibull")
        for j, name in enumerate(names):
            quantiles[name][k] = [float(v) / scale[name] for v in q[:, j]]
    return InventoryModel(quantiles, LEVELS, scale, end)


def achieved_service(model: InventoryModel, ds: InventoryDataset) -> tuple[float, int]:
    """(level, cycles): the share of held-out (decision day, ingredient) cycles whose actual
    L-day usage stayed within the reorder point (forecast + safety stock at TARGET);
    cycles with no usage either way are left out."""
    hits = cycles = 0
    for week in range(WEEKS):
        f, a = _cumulative(ds, week, ds.until)
        for j, name in enumerate(ds.usage.columns):
            eq, lead = model.error_quantiles(name), ds.lead_days[name]
            if eq is None:
                continue
            ss = safety_stock(eq, lead_days=lead, service_level=TARGET)
            s = np.arange(STEP)
            planned, used = f[s + lead, j] - f[s, j], a[s + lead, j] - a[s, j]
            ok = ~np.isnan(used) & ((used > 1e-9) | (planned > 1e-9))
            hits += int((used[ok] <= planned[ok] + ss + 1e-9).sum())
            cycles += int(ok.sum())
    return (hits / cycles if cycles else float("nan")), cycles


class InventoryTrainingSpec:
    """Gated on |achieved cycle service level − 0.95| on the held-out 28 days."""

    model_name = INVENTORY
    gate_metric = "holdout_service_gap"
    higher_is_better = False
    gate_tolerance = 0.03  # production's quantiles have seen most of this holdout

    def __init__(self, load: Callable[[], InventoryData]) -> None:
        self._load = load

    def validate(self, ctx: TrainingContext) -> InventoryData:
        data = self._load()
        days = len(item_wide(data.daily))
        if days < MIN_HISTORY_DAYS:
            raise InvalidInput(f"{days} days of sales; inventory needs {MIN_HISTORY_DAYS}")
        if data.recipes.empty:
            raise InvalidInput("no recipes: import them (foresight import restaurant)")
        return data

    def features(self, data: InventoryData, ctx: TrainingContext) -> InventoryDataset:
        items = item_wide(data.daily)
        recipes = spell_sizes(data.recipes, data.shares)
        names = sorted(recipes["ingredient_id"].astype(str).unique())
        given = data.ingredients.drop_duplicates("ingredient_id").set_index("ingredient_id")
        lead = given["lead_time_days"].reindex(names).astype(float)
        lead = lead.fillna(data.default_lead_time_days)
        lead_days = {str(n): max(1, math.ceil(v)) for n, v in lead.items()}
        horizon = max(max(lead_days.values(), default=1) + data.review_days, STEP)
        usage = usage_wide(items, data.shares, recipes, names)
        return InventoryDataset(data, items, usage, recipes, lead_days, horizon, items.index[-1])

    def tune(self, ds: InventoryDataset, ctx: TrainingContext) -> dict[str, Any]:
        return {}  # empirical quantiles: nothing to tune

    def fit(self, ds: InventoryDataset, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        model = calibrate(ds, range(WEEKS), ds.until)
        params = {"horizon_days": ds.horizon, "windows": WEEKS, "step": STEP}
        return Fitted(model, "rolling_origin_conformal", {**params, "levels": list(LEVELS)})

    def evaluate(
        self, fitted: Fitted, ds: InventoryDataset, ctx: TrainingContext
    ) -> dict[str, Any]:
        """Quantiles from weeks 4–7 (actuals up to T−28), judged on weeks 0–3."""
        cut = ds.until - pd.Timedelta(days=HOLDOUT_DAYS)
        achieved, cycles = achieved_service(calibrate(ds, range(WEEKS, 2 * WEEKS), cut), ds)
        # Usage MASE: held-out daily errors (1–7 days ahead) over a week-ago forecast's.
        naive = (ds.usage.loc[:cut] - ds.usage.loc[:cut].shift(STEP)).abs().mean()
        fc = pd.concat([_forecast_week(ds, week).iloc[:STEP] for week in range(WEEKS)])
        mase = ((ds.usage.reindex(fc.index) - fc).abs().mean() / naive)[naive > 0]
        return {
            "holdout_service_gap": abs(achieved - TARGET) if cycles else None,
            "holdout_service_level": achieved if cycles else None,
            "holdout_cycles": cycles,
            "holdout_usage_mase": float(mase.mean()) if len(mase) else None,
            "ingredients": ds.usage.shape[1],
        }

    def describe(self, fitted: Fitted, ds: InventoryDataset) -> Described:
        # The rule: the last 28 days' mean usage per calendar day, and sd over open days.
        recent = ds.usage.iloc[-HOLDOUT_DAYS:]
        mean = recent.mean().astype(float).to_dict()
        if ds.data.closed is not None:
            recent = recent[~np.asarray(ds.data.closed(recent.index.to_numpy()), dtype=bool)]
        sd = recent.std(ddof=1).fillna(0.0).astype(float).to_dict()
        raw = pd.util.hash_pandas_object(ds.items, index=True).to_numpy().tobytes()
        return Described(
            signature={
                "ingredients": ds.usage.shape[1],
                "horizon_days": ds.horizon,
                "trained_until": ds.until.date().isoformat(),
            },
            fallback={"kind": "normal_rule", "mean": mean, "sd": sd},
            data_fingerprint=ds.data.fingerprint or hashlib.sha256(raw).hexdigest()[:16],
        )

    def score(self, model: Any, ds: InventoryDataset) -> float | None:
        """Production's quantiles on the same held-out weeks (None: no common ingredient)."""
        if not isinstance(model, InventoryModel):
            return None
        achieved, cycles = achieved_service(model, ds)
        return abs(achieved - TARGET) if cycles else None


NO_ERRORS = ErrorQuantiles(levels=(TARGET,), values={})  # safety stock 0


def _uncertainty(
    link: Link, ingredient_id: str, usage: Sequence[float] | None
) -> tuple[ErrorQuantiles | NormalRule, list[float], str | None]:
    """Uncertainty, usage by day and note for one ingredient under one link."""
    days = [float(u) for u in usage] if usage is not None else []
    if isinstance(link, InventoryModel):
        eq = link.error_quantiles(ingredient_id)
        return (eq, days, None) if eq is not None else (NO_ERRORS, days, NO_UNCERTAINTY)
    if isinstance(link, InventoryRule):
        mean, sd = link.mean.get(ingredient_id), link.sd.get(ingredient_id)
        if not days and mean is not None:
            days = [mean] * STEP  # the rule's own usage when no forecast covers it
        if sd is None:
            return NO_ERRORS, days, NO_UNCERTAINTY
        return NormalRule(mean or 0.0, sd), days, None
    # Default: a flat day at the coming week's mean, so ROP = mean usage × L exactly.
    mean = cumulative_usage(days, STEP) / STEP if days else 0.0
    return NO_ERRORS, [mean] * max(len(days), STEP), NO_UNCERTAINTY


class InventoryAnswers:
    """Reorder advice for every ingredient (or one) under one link of the fallback chain."""

    def __init__(self, default_lead_time_days: float = 2.0) -> None:
        self.default_lead_time_days = default_lead_time_days

    @staticmethod
    def check_ingredient(ingredient_id: str | None, ingredients: pd.DataFrame) -> None:
        """A 404 naming ``ingredient_id`` (with the closest known id) unless it is listed."""
        known = [str(i) for i in ingredients["ingredient_id"]]
        if ingredient_id is None or ingredient_id in known:
            return
        raise NotFound(
            f"unknown ingredient {ingredient_id!r}{did_you_mean(ingredient_id, known)}"
            " (see /inventory)",
            details=[{"field": "ingredient_id", "message": "unknown ingredient"}],
        )

    def advise_all(
        self,
        link: Link,
        usage_by_ingredient: Mapping[str, Sequence[float]],
        batches: Mapping[str, Sequence[Batch]],
        ingredients: pd.DataFrame,
        today: date,
        *,
        service_level: float = TARGET,
        lead_time_days: float | None = None,
        review_days: float = 1.0,
        ingredient_id: str | None = None,
    ) -> dict[str, Any]:
        """The response body: ``as_of``, ``service_level``, ``method``, ``items`` (an
        :class:`Advice` each, with ``name`` and ``note``) and ``expiring`` (soonest first).
        Usage lists start today; ``lead_time_days`` overrides each ingredient's own."""
        self.check_ingredient(ingredient_id, ingredients)
        table = ingredients.astype({"ingredient_id": str}).drop_duplicates("ingredient_id")
        table = table.set_index("ingredient_id")
        table = table.astype(object).where(table.notna(), None)  # a missing value is None
        ids = sorted(table.index) if ingredient_id is None else [ingredient_id]
        items: list[dict[str, Any]] = []
        expiring: list[dict[str, Any]] = []
        for i in ids:
            row: dict[str, Any] = {str(k): v for k, v in table.loc[i].items()}
            uncertainty, days, note = _uncertainty(link, i, usage_by_ingredient.get(i))
            lead = row.get("lead_time_days") if lead_time_days is None else lead_time_days
            advice = advise(
                ingredient_id=i,
                unit=str(row.get("unit") or ""),
                batches=batches.get(i, ()),
                usage_by_day=days,
                today=today,
                uncertainty=uncertainty,
                lead_time_days=self.default_lead_time_days if lead is None else float(lead),
                review_days=review_days,
                service_level=service_level,
                pack_size=row.get("pack_size"),
                moq=row.get("min_order_qty"),
            )
            body = json.loads(json.dumps(asdict(advice), default=str))  # dates as ISO text
            items.append({**body, "name": str(row.get("name") or i), "note": note})
            expiring += [{"ingredient_id": i, "unit": advice.unit, **w} for w in body["expiring"]]
        expiring.sort(key=lambda w: (w["expires_at"], w["ingredient_id"], w["batch_id"]))
        return {
            "as_of": today.isoformat(),
            "service_level": service_level,
            "method": link.method,
            "items": items,
            "expiring": expiring,
        }
