"""Kitchen ticket and delivery time models: the tabular learner on the mirror's rows
(``tickets.kitchen_frame`` / ``tickets.delivery_frame``), and the two lower links of
their fallback chains.

- The served model is a :class:`MinutesModel`: the learner's blend (members linear and
  LightGBM, MAE, the latest 20 % of orders held out, time-ordered folds), fitted on log
  minutes when that measured better, answering in minutes with the learner's 90 %
  conformal interval (``exp`` of its ends when fitted on logs, so it is longer upwards).
  Its algorithm is not the generic ``tabular_blend``: the generic tabular route must not
  serve log minutes as if they were minutes; this app answers for it.
- The rule (:class:`RateRule`) is a robust linear rate fitted at training on the
  training rows only: a base per hour of the day plus minutes per item and per open
  ticket (kitchen) or per distance unit and per item (delivery), fitted by least
  absolute deviations, with the 5th and 95th percentiles of its residuals as a 90 %
  band. It lives in the registry row's JSON, so it answers when no artifact loads.
- The default (:class:`DefaultTime`) needs nothing: a documented median ± 50 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.restaurant.tickets import DELIVERY_TARGET, KEPT, KITCHEN_TARGET
from foresight.platform.errors import InvalidInput
from foresight.platform.registry import ModelVersion
from foresight.platform.tabular.learner import LearnerOptions
from foresight.platform.tabular.predictor import TabularModel
from foresight.platform.tabular.spec import RELATIVE_TOLERANCE, TabularData, TabularTrainingSpec
from foresight.platform.training import Described, Fitted, TrainingContext

KITCHEN = "restaurant_kitchen"
DELIVERY = "restaurant_delivery"
ALGORITHM = "restaurant_minutes"
LEVEL = 90
MEMBERS = ("linear", "lightgbm")
# One row's prediction per member, in µs (timed without the explanation, which these
# routes do not give): LightGBM with a few hundred trees stays well inside it, CatBoost
# (~11 ms a row with its explanation) might not.
ROW_BUDGET_US = 2000.0
MIN_ROWS = 50
# Kitchen and delivery retrain in the same daily slot: each takes half the tuning box.
BOX_SHARE = 0.5
MIN_MINUTES = 0.5  # a logged target needs a positive floor; a ticket under 30 s is a typo
MIN_SCORED = 0.9  # share of held-out rows a production model must read for a fair gate
# Defaults when no model was ever trained: the medians of the demo's year, documented so
# a user knows what an untrained answer means: the simulated kitchen's tickets (a cook or
# two, a 6-slot oven: median 12.65 minutes over 21,350 orders) and modeldata's real
# deliveries (median 26.0 minutes over 10,012).
DEFAULT_TICKET_MINUTES = 12.65
DEFAULT_DELIVERY_MINUTES = 26.0
DEFAULT_SPREAD = 0.5  # the default's interval: the median ± 50 %


@dataclass(frozen=True)
class TimeTarget:
    """What one of the two models predicts, and how its rule is shaped."""

    model_name: str
    target: str
    title: str
    rates: tuple[str, ...]  # the rule's per-unit columns
    log_target: bool


# Log minutes measured better for both on the time-ordered holdout (docs/restaurant.md,
# "Kitchen and delivery"): waits multiply (a long trip at rush hour, a full oven).
KITCHEN_TIME = TimeTarget(
    KITCHEN, KITCHEN_TARGET, "Kitchen ticket minutes", ("n_items", "open_tickets"), True
)
DELIVERY_TIME = TimeTarget(
    DELIVERY, DELIVERY_TARGET, "Delivery minutes", ("distance", "n_items"), True
)
TIMES = {t.model_name: t for t in (KITCHEN_TIME, DELIVERY_TIME)}


# ---- the served model --------------------------------------------------------------------
@dataclass
class MinutesModel:
    """The learner's blend answering in minutes (fitted on log minutes or on minutes)."""

    blend: TabularModel
    log_target: bool
    algorithm: str = ALGORITHM
    method: str = "blend"

    @property
    def signature(self) -> Any:
        return self.blend.signature

    @property
    def card(self) -> dict[str, Any]:
        return self.blend.card

    def answer(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Minutes with the 90 % interval for one feature row; a 422 naming the fields
        the model cannot read (an unknown weekday, a missing column)."""
        out = self.blend.predict_record(dict(row), explain=False)
        point, lower, upper = (float(out[k]) for k in ("prediction", "lower", "upper"))
        if self.log_target:
            point, lower, upper = math.exp(point), math.exp(lower), math.exp(upper)
        return _interval(point, lower, upper) | {"warnings": out["warnings"]}

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Minutes, lower and upper per row (NaN where a row cannot be read)."""
        out = self.blend.score_frame(frame, strict=False).frame
        values = out.reindex(columns=["prediction", "lower", "upper"]).astype(float)
        return values.apply(np.exp) if self.log_target else values


# ---- the rule ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RateRule:
    """Base minutes per hour of the day plus a rate per unit of each ``rates`` column."""

    base_by_hour: dict[str, float]
    base: float  # for an hour training never saw: the median of the hourly bases
    rates: dict[str, float]
    q05: float
    q95: float
    rows: int
    method: str = "rate_rule"

    @classmethod
    def fit(cls, rows: pd.DataFrame, minutes: np.ndarray, rates: Sequence[str]) -> RateRule:
        """Least absolute deviations on hour dummies and the rate columns (IRLS)."""
        hours = np.floor(rows["hour"].to_numpy(float)).astype(int)
        seen = np.unique(hours)
        dummies = (hours[:, None] == seen[None, :]).astype(float)
        slopes = rows[list(rates)].to_numpy(float)
        design = np.hstack([dummies, slopes])
        coef = _lad(design, minutes)
        residual = minutes - design @ coef
        bases = {str(int(h)): float(c) for h, c in zip(seen, coef[: len(seen)], strict=True)}
        q05, q95 = np.quantile(residual, [0.05, 0.95])
        return cls(
            base_by_hour=bases,
            base=float(np.median(list(bases.values()))),
            rates={r: float(c) for r, c in zip(rates, coef[len(seen) :], strict=True)},
            q05=float(min(q05, 0.0)),
            q95=float(max(q95, 0.0)),
            rows=len(minutes),
        )

    def answer(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The rule's minutes and 90 % band for one feature row."""
        base = self.base_by_hour.get(str(math.floor(float(row["hour"]))), self.base)
        point = base + sum(rate * float(row.get(k) or 0.0) for k, rate in self.rates.items())
        point = max(point, 0.0)
        return _interval(point, point + self.q05, point + self.q95) | {"warnings": []}

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Minutes for every row of a frame (the holdout check at training)."""
        records: list[dict[str, Any]] = rows.to_dict("records")  # type: ignore[assignment]
        return np.array([self.answer(r)["minutes"] for r in records])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "rate_rule",
            "base_by_hour": self.base_by_hour,
            "base": self.base,
            "rates": self.rates,
            "q05": self.q05,
            "q95": self.q95,
            "level": LEVEL,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> RateRule:
        return cls(
            base_by_hour={str(k): float(v) for k, v in stored["base_by_hour"].items()},
            base=float(stored["base"]),
            rates={str(k): float(v) for k, v in stored["rates"].items()},
            q05=float(stored["q05"]),
            q95=float(stored["q95"]),
            rows=int(stored.get("rows", 0)),
        )


def _lad(design: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Least absolute deviations by iteratively reweighted least squares: robust to the
    long right tail of waiting times, where least squares would chase the outliers."""
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    for _ in range(iterations):
        weights = 1.0 / np.maximum(np.abs(y - design @ coef), 1e-3)
        root = np.sqrt(weights)
        new = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
        if np.allclose(new, coef, atol=1e-6):
            return np.asarray(new)
        coef = new
    return np.asarray(coef)


# ---- the default -------------------------------------------------------------------------
@dataclass(frozen=True)
class DefaultTime:
    """A documented median ± 50 %, whatever the row: the answer before any training."""

    minutes: float
    method: str = "default"

    def answer(self, row: Mapping[str, Any]) -> dict[str, Any]:
        low, high = 1 - DEFAULT_SPREAD, 1 + DEFAULT_SPREAD
        return _interval(self.minutes, self.minutes * low, self.minutes * high) | {"warnings": []}


def rule_of(mv: ModelVersion) -> RateRule:
    """The rule link of either model, from the registry row's JSON."""
    if mv.fallback.get("kind") != "rate_rule":
        raise InvalidInput(f"{mv.label} stores no rate rule")
    return RateRule.from_dict(mv.fallback)


def kitchen_default() -> DefaultTime:
    return DefaultTime(DEFAULT_TICKET_MINUTES)


def delivery_default() -> DefaultTime:
    return DefaultTime(DEFAULT_DELIVERY_MINUTES)


def _interval(point: float, lower: float, upper: float) -> dict[str, float]:
    """Rounded minutes, never negative, the interval always holding the point."""
    point = max(point, 0.0)
    return {
        "minutes": round(point, 2),
        "lower": round(max(min(lower, point), 0.0), 2),
        "upper": round(max(upper, point), 2),
    }


# ---- training ----------------------------------------------------------------------------
class TimeTrainingSpec(TabularTrainingSpec):
    """The learner on a kitchen or delivery frame, gated on held-out MAE in minutes.

    ``load`` gives the frame (features, the target in minutes, ``order_id`` and
    ``ordered_at``) when the pipeline validates, so a training reads the latest mirror.
    ``ordered_at`` orders the rows (the latest 20 % held out, expanding folds) and is
    dropped as a feature with ``order_id``; so is ``channel``, which a POST does not carry
    and which the kitchen's work does not depend on.
    """

    def __init__(self, time: TimeTarget, load: Callable[[], pd.DataFrame]) -> None:
        options = LearnerOptions(
            target=time.target,
            task="regression",
            metric="mae",
            time_column="ordered_at",
            drop=(*KEPT, "channel") if time.model_name == KITCHEN else KEPT,
            members=MEMBERS,
            row_budget_us=ROW_BUDGET_US,
            row_budget_explain=False,  # the routes answer the time, not its reasons
        )
        super().__init__(time.model_name, pd.DataFrame(), options)
        self.time = time
        self._load = load
        self.minutes = np.empty(0)
        self.rule: RateRule | None = None

    def validate(self, ctx: TrainingContext) -> Any:
        frame = self._load()
        target = self.time.target
        have = int(frame[target].notna().sum()) if target in frame else 0
        if have < MIN_ROWS:
            what = "a ready time" if self.model_name == KITCHEN else "a delivery time and distance"
            raise InvalidInput(
                f"{have} orders with {what} in the mirror; {self.model_name} needs at least "
                f"{MIN_ROWS} (sync the RMS first)"
            )
        self.minutes = frame[target].to_numpy(float)
        if self.time.log_target:
            frame = frame.assign(**{target: np.log(np.maximum(self.minutes, MIN_MINUTES))})
        self.frame = frame
        members = tuple(m for m in (ctx.members or MEMBERS) if m in MEMBERS) or MEMBERS
        self.options = replace(
            self.options,
            time_budget=ctx.tuning_seconds * BOX_SHARE,
            max_trials=ctx.tuning_trials,
            members=members,
            seed=ctx.seed,
        )
        prepared = super().validate(ctx)
        self.gate_metric, self.higher_is_better = "holdout_mae_minutes", False
        return prepared

    def fit(self, data: TabularData, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        fitted = super().fit(data, tuned, ctx)
        params = fitted.params | {"log_target": self.time.log_target, "minutes": self.time.target}
        return Fitted(MinutesModel(fitted.model, self.time.log_target), ALGORITHM, params)

    def evaluate(self, fitted: Fitted, data: TabularData, ctx: TrainingContext) -> dict[str, Any]:
        """Held-out minutes for the blend, the rule and the median (never training rows);
        the learner's own numbers carry ``_log`` when fitted on log minutes."""
        assert data.learned is not None
        unit = "_log" if self.time.log_target else ""
        learned = data.learned
        metrics: dict[str, Any] = {
            f"holdout_{k}{unit}": v for k, v in learned.metrics.get("holdout", {}).items()
        }
        metrics |= {f"cv_{k}{unit}": v for k, v in learned.metrics.get("cv", {}).items()}
        metrics |= {f"{k}_rows": v for k, v in learned.rows.items()}
        metrics["fit_seconds"] = round(learned.seconds, 1)
        train_at = data.prepared.keep[data.train]
        held_at = data.prepared.keep[data.held]
        rows = self.frame.iloc[train_at]
        self.rule = RateRule.fit(rows, self.minutes[train_at], self.time.rates)
        y = self.minutes[held_at]
        if len(y):
            held = self.frame.iloc[held_at]
            answers = fitted.model.predict_frame(held)
            point = answers["prediction"].to_numpy(float)
            inside = (y >= answers["lower"].to_numpy()) & (y <= answers["upper"].to_numpy())
            width = answers["upper"] - answers["lower"]
            median = float(np.median(self.minutes[train_at]))
            metrics |= {
                "holdout_mae_minutes": _mae(y, point),
                "holdout_coverage_minutes": round(float(inside.mean()), 4),
                "holdout_width_minutes": round(float(width.mean()), 3),
                "rule_holdout_mae_minutes": _mae(y, self.rule.predict(held)),
                "median_holdout_mae_minutes": _mae(y, np.full(len(y), median)),
            }
            self.gate_tolerance = RELATIVE_TOLERANCE * metrics["holdout_mae_minutes"]
        return {k: v for k, v in metrics.items() if isinstance(v, int | float)}

    def describe(self, fitted: Fitted, data: TabularData) -> Described:
        described = super().describe(replace(fitted, model=fitted.model.blend), data)
        assert self.rule is not None  # evaluate ran first
        return replace(described, fallback=self.rule.to_dict() | {"target": self.time.target})

    def score(self, model: Any, data: TabularData) -> float | None:
        """Held-out MAE in minutes of any served model of this name; None if it cannot
        read most rows (its columns changed with the menu)."""
        if not isinstance(model, MinutesModel) or not len(data.held):
            return None
        held_at = data.prepared.keep[data.held]
        try:
            point = model.predict_frame(self.frame.iloc[held_at])["prediction"].to_numpy(float)
        except InvalidInput:
            return None
        ok = np.isfinite(point)
        if ok.mean() < MIN_SCORED:
            return None
        return _mae(self.minutes[held_at][ok], point[ok])


def _mae(y: np.ndarray, point: np.ndarray) -> float:
    return round(float(np.mean(np.abs(np.asarray(y, float) - np.asarray(point, float)))), 6)
