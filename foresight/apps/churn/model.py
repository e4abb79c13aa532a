"""Churn training (the platform tabular learner on the imported table), tiers and fallbacks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from foresight.platform.drift import Reference
from foresight.platform.errors import InvalidInput
from foresight.platform.registry import ModelVersion
from foresight.platform.tabular import training as tt
from foresight.platform.tabular.learner import Learned, LearnerOptions, learn
from foresight.platform.tabular.members import Design
from foresight.platform.tabular.models import BinaryModel, RuleModel, fit_rule_model
from foresight.platform.tabular.signature import FieldError, FieldWarning, Signature
from foresight.platform.tabular.splits import Plan
from foresight.platform.tabular.tasks import METRICS, Target
from foresight.platform.training import Described, Fitted, TrainingContext

MODEL_NAME = "churn"
ROC_AUC = METRICS["roc_auc"]
# One customer's predict + explain per blend member, in µs: the seed's hot path keeps to
# within 1.5x of a bare FastAPI endpoint, so a slower member is not served.
ROW_BUDGET_US = 400.0
MIN_ROWS, MIN_PER_CLASS = 50, 10

# Risk tiers on the calibrated probability; ≥ HIGH triggers the retention alert.
TIER_MEDIUM, TIER_HIGH = 0.3, 0.6
TIERS = ("low", "medium", "high")


def risk_tier(p: float) -> str:
    return "high" if p >= TIER_HIGH else "medium" if p >= TIER_MEDIUM else "low"


def risk_tiers(p: np.ndarray) -> np.ndarray:
    return np.where(p >= TIER_HIGH, "high", np.where(p >= TIER_MEDIUM, "medium", "low"))


def label(p: float) -> str:
    """The seed's yes/no prediction."""
    return "Yes" if p >= 0.5 else "No"


def confidence_level(p: float) -> str:
    """How far from a coin flip the prediction is (the seed's ``confidence_level``)."""
    distance = abs(p - 0.5)
    return "high" if distance >= 0.3 else "medium" if distance >= 0.15 else "low"


def prediction_row(
    customer_id: str | None,
    p: float,
    version: str,
    fallback: str | None,
    *,
    source: str,
    at: datetime,
) -> dict[str, Any]:
    """One row of the prediction history (the seed's ``predictions`` table)."""
    return {
        "customer_id": customer_id,
        "churn_probability": round(p, 4),
        "prediction": label(p),
        "risk_tier": risk_tier(p),
        "confidence_level": confidence_level(p),
        "model_version": version,
        "fallback": fallback,
        "source": source,
        "prediction_date": at,
    }


def factors(signature: Signature, row: np.ndarray, expl: Any, top: int) -> list[dict[str, Any]]:
    """The ``top`` largest contributions, in the user's column names and values."""
    contrib = expl.probability_contributions()
    log_odds = expl.log_odds
    values = row.tolist()
    order = sorted(range(len(contrib)), key=lambda i: abs(contrib[i]), reverse=True)
    out = []
    for i in order[:top]:
        if abs(log_odds[i]) < 1e-9:
            continue
        name, value = signature.columns[i].name, signature.decode_value(i, values[i])
        verb = "raises" if contrib[i] > 0 else "lowers"
        out.append(
            {
                "feature": name,
                "value": value,
                "contribution": round(contrib[i], 4),
                "log_odds": round(log_odds[i], 4),
                "text": f"{name} = {value} {verb} risk by {abs(contrib[i]):.2f}",
            }
        )
    return out


@dataclass
class Scored:
    """A scored frame: one entry per input row; ``ok`` marks rows without errors.

    ``warnings`` name values outside the training range (``row`` 0-based, as ``errors``):
    those rows are scored, and their result says why to trust it less.
    """

    ids: list[str | None]
    probability: np.ndarray
    ok: np.ndarray
    errors: list[FieldError]
    model_version: str
    fallback: str | None
    warnings: list[FieldWarning] = field(default_factory=list)

    @property
    def tiers(self) -> np.ndarray:
        return risk_tiers(self.probability)

    def results(self, first_row: int = 1) -> list[dict[str, Any]]:
        """One result per scored row, numbered from ``first_row`` as the user counts.

        A row with values outside the training range also has ``warnings``: one text,
        ``"field: message"`` per value joined by `` | ``, so that it fits a CSV cell.
        """
        tiers = self.tiers
        results = [
            {
                "row": first_row + int(i),
                "customer_id": self.ids[i],
                "churn_probability": round(float(self.probability[i]), 4),
                "prediction": label(float(self.probability[i])),
                "risk_tier": str(tiers[i]),
            }
            for i in np.flatnonzero(self.ok)
        ]
        if self.warnings:
            by_row = {r["row"]: r for r in results}
            for w in self.warnings:
                result = by_row.get(first_row + (w.row or 0))
                if result is None:  # the row had an error too: it has no result
                    continue
                note = f"{w.field}: {w.message}"
                result["warnings"] = (
                    f"{result['warnings']} | {note}" if "warnings" in result else note
                )
        return results

    def row_errors(self, first_row: int = 1) -> list[dict[str, Any]]:
        return [
            {"row": first_row + (e.row or 0), "field": e.field, "message": e.message}
            for e in self.errors
        ]


@dataclass
class ChurnData:
    features: pd.DataFrame
    target: np.ndarray


@dataclass
class ChurnDataset:
    signature: Signature
    matrix: np.ndarray
    target: np.ndarray
    split: tt.Split
    folds: list[tuple[np.ndarray, np.ndarray]]
    holdout_frame: pd.DataFrame
    train_frame: pd.DataFrame

    @property
    def train_x(self) -> np.ndarray:
        return self.matrix[self.split.train]

    @property
    def train_y(self) -> np.ndarray:
        return self.target[self.split.train]


class ChurnTrainingSpec:
    """Trains on whatever customer table was imported (Telco or the user's own)."""

    model_name = MODEL_NAME
    gate_metric = "roc_auc"
    higher_is_better = True
    gate_tolerance = 0.005

    def __init__(self, load: Any) -> None:
        self._load = load  # () -> (features frame, target array)

    def validate(self, ctx: TrainingContext) -> ChurnData:
        features, target = self._load()
        if target is None:
            raise InvalidInput("the imported customer table has no target column to learn from")
        if len(target) < MIN_ROWS:
            raise InvalidInput(f"need at least {MIN_ROWS} customers to train; have {len(target)}")
        counts = np.bincount(target, minlength=2)
        if counts.min() < MIN_PER_CLASS:
            raise InvalidInput(
                f"need at least {MIN_PER_CLASS} churned and {MIN_PER_CLASS} retained customers; "
                f"have {counts[1]} and {counts[0]}"
            )
        return ChurnData(features, target)

    def features(self, data: ChurnData, ctx: TrainingContext) -> ChurnDataset:
        signature = Signature.infer(data.features)
        if not signature.columns:
            raise InvalidInput("no usable feature columns (all constant or identifier-like)")
        matrix, _ = signature.encode_frame(data.features)
        split = tt.holdout_split(data.target, seed=ctx.seed)
        return ChurnDataset(
            signature=signature,
            matrix=matrix,
            target=data.target,
            split=split,
            folds=tt.folds(data.target[split.train], seed=ctx.seed),
            holdout_frame=data.features.iloc[split.holdout].reset_index(drop=True),
            train_frame=data.features.iloc[split.train].reset_index(drop=True),
        )

    def tune(self, ds: ChurnDataset, ctx: TrainingContext) -> dict[str, Any]:
        """The platform's tabular learner on the training split: candidates tuned and
        blended out of fold within the tuning box, then refitted."""
        design = Design(
            ds.train_x, ds.train_y, ds.signature, Target("binary", ["0", "1"]), ROC_AUC, ctx.seed
        )
        opts = LearnerOptions(
            target=MODEL_NAME,
            time_budget=ctx.tuning_seconds,
            seed=ctx.seed,
            max_trials=ctx.tuning_trials,
            members=ctx.members,
            compile_trees=True,  # batches of customers: native trees
            row_budget_us=ROW_BUDGET_US,
        )
        learned = learn(
            design,
            Plan("stratified", ds.folds),
            opts,
            lambda step, fraction, message: ctx.progress("tune", fraction, message),
        )
        return {"learned": learned}

    def fit(self, ds: ChurnDataset, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        learned: Learned = tuned["learned"]
        model = learned.model
        cv: dict[str, Any] = {"cv_roc_auc": learned.metrics["cv"]["roc_auc"]}
        for entry in learned.leaderboard:
            if "oof_score" in entry:
                cv[f"cv_roc_auc_{entry['member']}"] = entry["oof_score"]
        cv["tuning_trials"] = sum(int(e.get("trials", 0)) for e in learned.leaderboard)
        cv["blend"] = {e["member"]: e["weight"] for e in learned.leaderboard if e["weight"]}
        cv["left_out"] = {e["member"]: e["reason"] for e in learned.leaderboard if e.get("reason")}
        return Fitted(model=model, algorithm=model.algorithm, params=model.params, metrics=cv)

    def evaluate(self, fitted: Fitted, ds: ChurnDataset, ctx: TrainingContext) -> dict[str, Any]:
        holdout = tt.evaluate(
            fitted.model, ds.matrix[ds.split.holdout], ds.target[ds.split.holdout]
        )
        return {
            **fitted.metrics,
            **holdout,
            "train_rows": len(ds.split.train),
            "holdout_rows": len(ds.split.holdout),
        }

    def describe(self, fitted: Fitted, ds: ChurnDataset) -> Described:
        rule = fit_rule_model(ds.signature, ds.train_x, ds.train_y)
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(np.nan_to_num(ds.matrix, nan=-1e300)).tobytes())
        digest.update(ds.target.tobytes())
        return Described(
            signature=ds.signature.to_dict(),
            fallback=rule.to_dict(),
            data_fingerprint=digest.hexdigest(),
            # The model's own columns, as users send them: what drift is measured on.
            reference=Reference.from_frame(ds.train_frame[ds.signature.names]).to_dict(),
        )

    def score(self, model: BinaryModel, ds: ChurnDataset) -> float | None:
        """ROC-AUC of any churn model on this holdout, if its signature can read it."""
        try:
            matrix, errors = model.signature.encode_frame(ds.holdout_frame)
        except ValueError:
            return None
        y = ds.target[ds.split.holdout]
        if errors:
            bad = {e.row for e in errors}
            keep = np.array([i not in bad for i in range(len(y))])
            if keep.sum() < 0.9 * len(y):
                return None
            matrix, y = matrix[keep], y[keep]
        return float(roc_auc_score(y, model.predict_proba(matrix)))


def rule_from_version(mv: ModelVersion) -> RuleModel:
    """The rule baseline stored (as JSON) in the registry row."""
    return RuleModel.from_dict(Signature.from_dict(mv.signature), mv.fallback)


TRUE_WORDS = {"1", "1.0", "true", "yes", "y", "churn", "churned"}
FALSE_WORDS = {"0", "0.0", "false", "no", "n", "stayed", "retained"}


def observed_churn(value: float | bool | str, positive_label: str | None) -> float:
    """An outcome as 1 (churned) or 0; anything else is an InvalidInput."""
    if isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if positive_label and text == positive_label:
        return 1.0
    if text.lower() in TRUE_WORDS:
        return 1.0
    if text.lower() in FALSE_WORDS:
        return 0.0
    raise InvalidInput(
        f"observed must say whether the customer churned (yes/no, 1/0); got {text!r}"
    )
