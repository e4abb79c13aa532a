"""Customers: RFM segments, BG/NBD visit and dropout, Gamma-Gamma spend, 12-month value,
churn risk and the next expected visit (``clv.py``, ``rfm.py``), trained on the
mirror's visits and judged on a held-out tail of time.

A visit is a day with at least one order by the customer (same-day orders are merged);
time is in days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from foresight.apps.restaurant import rfm
from foresight.apps.restaurant.clv import BetaGeo, GammaGamma, clv
from foresight.platform.errors import InvalidInput
from foresight.platform.registry import ModelVersion
from foresight.platform.training import Described, Fitted, TrainingContext

CUSTOMERS = "restaurant_customers"
MIN_REPEATERS = 100
HIGH, MEDIUM = 0.6, 0.3  # churn risk tiers (1 − P(alive))
# The same tiers as P(alive) ranges (low, high]: what the stored scores are filtered by.
P_ALIVE_OF_TIER = {
    "high": (-1.0, 1 - HIGH),
    "medium": (1 - HIGH, 1 - MEDIUM),
    "low": (1 - MEDIUM, 2.0),
}


@dataclass
class CustomerData:
    visits: pd.DataFrame  # customer_id, day (local date), amount
    as_of: pd.Timestamp  # the last complete day of data
    holdout_days: int
    fingerprint: str
    holdout: dict[str, Any] = field(default_factory=dict)


@dataclass
class CustomerModel:
    """A trained customer version: fitted BG/NBD and Gamma-Gamma, RFM cut points."""

    bg: BetaGeo
    gg: GammaGamma
    cuts: dict[str, list[float]]
    as_of: pd.Timestamp
    population: dict[str, float]


@dataclass(frozen=True)
class RfmRule:
    """Rule baseline: P(alive) from recency against the customer's own mean gap between
    visits (the population's median gap for one-visit customers), value = mean spend ×
    visits of the last 12 months × 0.8. Needs no fitted model."""

    median_gap_days: float = 30.0
    mean_spend: float = 0.0
    method = "rfm_rule"


@dataclass(frozen=True)
class PopulationDefault:
    """Default before any model: population means, no P(alive)."""

    method = "default"


def customer_rule(mv: ModelVersion) -> RfmRule:
    fb = mv.fallback or {}
    return RfmRule(float(fb.get("median_gap_days", 30.0)), float(fb.get("mean_spend", 0.0)))


def customer_default() -> PopulationDefault:
    return PopulationDefault()


def visits_fingerprint(visits: pd.DataFrame) -> str:
    raw = pd.util.hash_pandas_object(visits, index=False).to_numpy().tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


def holdout_counts(visits: pd.DataFrame, after: pd.Timestamp, until: pd.Timestamp) -> pd.Series:
    """Visit days per customer in (after, until]."""
    days = visits.drop_duplicates(["customer_id", "day"])
    part = days[(days["day"] > after) & (days["day"] <= until)]
    return part.groupby("customer_id").size()


def fit_models(table: pd.DataFrame) -> tuple[BetaGeo, GammaGamma]:
    """BG/NBD on every customer's (x, t_x, T); Gamma-Gamma on the repeat customers."""
    bg = BetaGeo().fit(table["x"], table["t_x"], table["T"])
    repeat = table[table["x"] > 0]
    gg = GammaGamma().fit(repeat["x"], repeat["m"])
    return bg, gg


class CustomerTrainingSpec:
    """Gated on per-customer MAE of held-out visits (lower is better)."""

    model_name = CUSTOMERS
    gate_metric = "holdout_mae"
    higher_is_better = False
    gate_tolerance = 0.01

    def __init__(self, load: Callable[[], CustomerData]) -> None:
        self._load = load

    def validate(self, ctx: TrainingContext) -> CustomerData:
        data = self._load()
        table = rfm.rfm_table(data.visits, data.as_of)
        repeaters = int((table["x"] > 0).sum())
        if repeaters < MIN_REPEATERS:
            raise InvalidInput(
                f"{repeaters} customers with a repeat visit; the customer model needs at "
                f"least {MIN_REPEATERS} (orders need a customer_id in the RMS)"
            )
        return data

    def features(self, data: CustomerData, ctx: TrainingContext) -> CustomerData:
        return data

    def tune(self, data: CustomerData, ctx: TrainingContext) -> dict[str, Any]:
        return {}  # four + three parameters by maximum likelihood: nothing to tune

    def fit(self, data: CustomerData, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        table = rfm.rfm_table(data.visits, data.as_of)
        bg, gg = fit_models(table)
        model = CustomerModel(
            bg=bg,
            gg=gg,
            cuts=rfm.cut_points(table),
            as_of=data.as_of,
            population=population(table),
        )
        return Fitted(
            model,
            algorithm="bg_nbd+gamma_gamma",
            params={"bg_nbd": bg.params_, "gamma_gamma": gg.params_, "customers": len(table)},
        )

    def evaluate(self, fitted: Fitted, data: CustomerData, ctx: TrainingContext) -> dict[str, Any]:
        """Calibrate on all but the last ``holdout_days``, predict each customer's visits
        in them; beside "the same rate as before" (x / T continued)."""
        cut = data.as_of - pd.Timedelta(days=data.holdout_days)
        cal = rfm.rfm_table(data.visits[data.visits["day"] <= cut], cut)
        actual = holdout_counts(data.visits, cut, data.as_of).reindex(cal["customer_id"]).fillna(0)
        data.holdout = {"cal": cal, "actual": actual.to_numpy(dtype=float)}
        bg, _ = fit_models(cal)
        predicted = bg.expected_purchases(data.holdout_days, cal["x"], cal["t_x"], cal["T"])
        same_rate = np.where(cal["T"] > 0, cal["x"] / cal["T"].where(cal["T"] > 0, 1), 0.0)
        same_rate = same_rate * data.holdout_days
        y = data.holdout["actual"]
        came = y > 0
        both = 0 < came.mean() < 1

        def auc(score: np.ndarray) -> float:
            return float(roc_auc_score(came, score)) if both else float("nan")

        # P(alive) alone ranks badly: it is 1 for every one-visit customer by the
        # model's construction; the expected visits are the ranking to judge.
        return {
            "holdout_mae": float(np.mean(np.abs(predicted - y))),
            "holdout_mae_same_rate": float(np.mean(np.abs(same_rate - y))),
            "holdout_total_ratio": float(predicted.sum() / max(y.sum(), 1.0)),
            "visit_auc": auc(predicted),
            "p_alive_auc": auc(bg.p_alive(cal["x"], cal["t_x"], cal["T"])),
            "customers": len(cal),
            "holdout_days": data.holdout_days,
        }

    def describe(self, fitted: Fitted, data: CustomerData) -> Described:
        model: CustomerModel = fitted.model
        return Described(
            signature={
                "customers": int(model.population["customers"]),
                "as_of": str(model.as_of.date()),
            },
            fallback={
                "kind": "rfm_rule",
                "median_gap_days": model.population["median_gap_days"],
                "mean_spend": model.population["mean_spend"],
            },
            data_fingerprint=data.fingerprint,
        )

    def score(self, model: Any, data: CustomerData) -> float | None:
        """Production's parameters on the same calibration and holdout."""
        if not isinstance(model, CustomerModel) or not data.holdout:
            return None
        cal, y = data.holdout["cal"], data.holdout["actual"]
        predicted = model.bg.expected_purchases(data.holdout_days, cal["x"], cal["t_x"], cal["T"])
        return float(np.mean(np.abs(predicted - y)))


def population(table: pd.DataFrame) -> dict[str, float]:
    repeat = table[table["x"] > 0]
    gaps = repeat["t_x"] / repeat["x"]
    return {
        "customers": float(len(table)),
        "median_gap_days": float(gaps.median()) if len(gaps) else 30.0,
        "mean_spend": float(table["monetary"].mean()) if len(table) else 0.0,
        "mean_visits_12m": float((table["frequency"]).mean()) if len(table) else 0.0,
    }


def tier(p_alive: float | None) -> str | None:
    """The churn risk tier of a P(alive), by :data:`P_ALIVE_OF_TIER`."""
    if p_alive is None:
        return None
    return next(t for t, (lo, hi) in P_ALIVE_OF_TIER.items() if lo < p_alive <= hi)


def score_table(
    table: pd.DataFrame,
    link: CustomerModel | RfmRule | PopulationDefault,
    cuts: dict[str, list[float]],
) -> pd.DataFrame:
    """Scores for every row of an RFM table from one link of the fallback chain:
    segment, clv_12m, p_alive, expected_visits_30d, next_visit_in_days."""
    sc = rfm.scores(table, cuts)
    assert isinstance(sc, pd.DataFrame)
    out = table.join(sc)
    out["segment"] = [rfm.segment(r, f) for r, f in zip(sc["r_score"], sc["f_score"], strict=True)]
    x, t_x, T, m = (table[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "m"))
    if isinstance(link, CustomerModel):
        out["p_alive"] = link.bg.p_alive(x, t_x, T)
        out["expected_visits_30d"] = link.bg.expected_purchases(30.0, x, t_x, T)
        out["clv_12m"] = clv(link.bg, link.gg, x, t_x, T, np.where(x > 0, m, np.nan))
        # Waiting times are memoryless: the median wait counts from the as-of date.
        out["next_visit_in_days"] = link.bg.median_wait(x, T)
    elif isinstance(link, RfmRule):
        gap = np.where(x > 0, t_x / np.maximum(x, 1), link.median_gap_days)
        recency = table["recency_days"].to_numpy(dtype=float)
        out["p_alive"] = np.clip(2 * gap / np.maximum(recency, 1.0), 0.0, 1.0)
        rate = table["frequency"].to_numpy(dtype=float) / np.maximum(T, 1.0)
        out["expected_visits_30d"] = out["p_alive"] * rate * 30
        spend = table["monetary"].to_numpy(dtype=float)
        out["clv_12m"] = spend * np.minimum(rate * 365, table["frequency"]) * 0.8
        out["next_visit_in_days"] = np.maximum(gap - recency, 0.0)
    else:
        out["p_alive"] = np.nan
        out["expected_visits_30d"] = np.nan
        out["clv_12m"] = np.nan
        out["next_visit_in_days"] = np.nan
    return out


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def customer_answer(
    r: pd.Series, as_of: pd.Timestamp, link: CustomerModel | RfmRule | PopulationDefault
) -> dict[str, Any]:
    """One scored customer (a row of :func:`score_table`) as the API answers it."""
    raw = None if pd.isna(r["p_alive"]) else float(r["p_alive"])
    p_alive = _number(raw)
    risk = None if raw is None else round(1 - raw, 4)
    wait = r["next_visit_in_days"]
    next_visit = None
    if p_alive is not None and p_alive >= 0.5 and not pd.isna(wait):
        next_visit = (as_of + pd.Timedelta(days=float(wait))).strftime("%Y-%m-%d")
    return {
        "customer_id": str(r["customer_id"]),
        "as_of": as_of.strftime("%Y-%m-%d"),
        "rfm": {
            "recency_days": float(r["recency_days"]),
            "frequency": int(r["frequency"]),
            "monetary": round(float(r["monetary"]), 2),
            "r_score": int(r["r_score"]),
            "f_score": int(r["f_score"]),
            "m_score": int(r["m_score"]),
            "segment": str(r["segment"]),
        },
        "clv_12m": _number(r["clv_12m"]),
        "expected_visits_30d": _number(r["expected_visits_30d"]),
        "p_alive": p_alive,
        "churn_risk": risk,
        "churn_tier": tier(raw),
        "next_visit_expected": next_visit,
        "method": "bg_nbd" if isinstance(link, CustomerModel) else link.method,
    }
