"""The availability model: the platform's tabular learner on point-in-time features of
every stored delivery attempt, split by time, with the history-only baseline beside it.

Fallback chain when serving: the production model → :class:`HistoryRule` (the
per-customer hour × weekday success rate, which needs no artifact) → the same rule with
the default prior when nothing was ever trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from foresight.apps.delivery.inputs import BASE_RATE, MODEL_FEATURES
from foresight.platform.errors import InvalidInput
from foresight.platform.tabular.learner import LearnerOptions
from foresight.platform.tabular.predictor import TabularModel
from foresight.platform.tabular.spec import TabularData, TabularTrainingSpec
from foresight.platform.tabular.tasks import expected_calibration_error
from foresight.platform.training import Described, Fitted, TrainingContext

MODEL_NAME = "delivery_availability"
ALGORITHM = "delivery_availability"
TARGET = "delivered"
TIME_COLUMN = "window_start"
DEFAULT_PRIOR = 0.7  # the success rate assumed before anything was trained
COLD_START_ATTEMPTS = 5  # fewer earlier attempts than this: a cold start
MEMBERS = ("linear", "lightgbm")
# One window's predict in µs per member: optimal-time scores ~26 windows in ~1 ms.
ROW_BUDGET_US = 1500.0
HOLDOUT = 0.2


@dataclass
class AvailabilityModel:
    """The learner's blend reading :data:`MODEL_FEATURES` rows (those it kept)."""

    blend: TabularModel
    prior: float
    columns: tuple[int, ...]  # positions in MODEL_FEATURES of the blend's signature
    algorithm: str = ALGORITHM

    @classmethod
    def of(cls, blend: TabularModel, prior: float) -> AvailabilityModel:
        names = blend.signature.names
        missing = [n for n in names if n not in MODEL_FEATURES]
        if missing:
            raise InvalidInput(f"the fitted model reads unknown inputs {missing}")
        return cls(blend, prior, tuple(MODEL_FEATURES.index(n) for n in names))

    @property
    def signature(self) -> Any:
        return self.blend.signature

    @property
    def card(self) -> dict[str, Any]:
        return self.blend.card

    @property
    def classes(self) -> list[str]:
        return self.blend.classes

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """P(delivered) per row of a full (n, len(MODEL_FEATURES)) input matrix."""
        return np.asarray(self.blend.predict_proba(matrix[:, self.columns]), dtype=np.float64)

    def explain_one(self, row: np.ndarray) -> list[tuple[str, float, float]]:
        """(feature, value, change in probability) for one full input row, largest first."""
        kept = row[list(self.columns)]
        expl = self.blend.explain_one(kept)
        contrib = expl.probability_contributions()
        names = self.blend.signature.names
        order = sorted(range(len(contrib)), key=lambda i: abs(contrib[i]), reverse=True)
        return [(names[i], float(kept[i]), float(contrib[i])) for i in order]

    def score_frame(self, frame: pd.DataFrame, *, strict: bool = True) -> Any:
        """The blend's own scoring (the training gate compares versions with it)."""
        return self.blend.score_frame(frame, strict=strict)


@dataclass(frozen=True)
class HistoryRule:
    """The rule baseline: the customer's hour × weekday success rate, shrunk to their
    overall rate and that to ``prior`` (the ``base_rate`` input, already computed)."""

    prior: float = DEFAULT_PRIOR
    algorithm: str = "history_rule"

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(matrix[:, BASE_RATE], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "history_rule", "prior": self.prior}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HistoryRule:
        prior = (data or {}).get("prior", DEFAULT_PRIOR)
        return cls(float(prior) if isinstance(prior, int | float) else DEFAULT_PRIOR)


def training_prior(frame: pd.DataFrame, holdout: float = HOLDOUT) -> float:
    """The success rate of the rows training may see (the earliest ``1 − holdout`` by
    window start): the shrinkage target of every history input."""
    if frame.empty:
        return DEFAULT_PRIOR
    order = np.argsort(frame[TIME_COLUMN].to_numpy(), kind="stable")
    seen = order[: max(1, round(len(order) * (1 - holdout)))]
    return float(frame[TARGET].to_numpy()[seen].mean())


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, ECE (15 bins), log loss and Brier of probabilities ``p`` for outcomes ``y``."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out = {
        "ece": round(float(expected_calibration_error(y, q)), 5),
        "log_loss": round(float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))), 5),
        "brier": round(float(np.mean((q - y) ** 2)), 5),
    }
    if 0 < y.sum() < len(y):
        out["roc_auc"] = round(float(roc_auc_score(y, p)), 5)
    return out


class AvailabilityTrainingSpec(TabularTrainingSpec):
    """The learner on one row per stored attempt (its window's inputs, history cut at the
    window's start), the latest 20 % by window start held out; gated on log loss.

    ``load(prior)`` gives the frame: :data:`MODEL_FEATURES`, ``delivered`` (0/1),
    ``window_start`` and ``customer_id``. It is called twice: once with the default prior
    to learn the training rows' success rate, then with that rate, so the history inputs
    shrink towards what training saw.
    """

    def __init__(
        self,
        load: Callable[[float], pd.DataFrame],
        *,
        min_rows: int,
        min_per_class: int,
    ) -> None:
        options = LearnerOptions(
            target=TARGET,
            task="binary",
            metric="log_loss",
            time_column=TIME_COLUMN,
            # The time column orders the split; its date parts are inputs already (hour,
            # weekday), and a trend in days would extrapolate past the training period.
            drop=("customer_id", TIME_COLUMN),
            members=MEMBERS,
            holdout=HOLDOUT,
            row_budget_us=ROW_BUDGET_US,
            row_budget_explain=False,
        )
        super().__init__(MODEL_NAME, pd.DataFrame(), options)
        self._load = load
        self.min_rows, self.min_per_class = min_rows, min_per_class
        self.prior = DEFAULT_PRIOR

    def validate(self, ctx: TrainingContext) -> Any:
        first = self._load(DEFAULT_PRIOR)
        n = len(first)
        delivered = int(first[TARGET].sum()) if n else 0
        if n < self.min_rows or min(delivered, n - delivered) < self.min_per_class:
            raise InvalidInput(
                f"{n} delivery attempts ({delivered} delivered); training needs at least "
                f"{self.min_rows}, with {self.min_per_class} of each outcome"
            )
        self.prior = training_prior(first)
        self.frame = self._load(self.prior)
        members = tuple(m for m in (ctx.members or MEMBERS) if m in MEMBERS) or MEMBERS
        self.options = replace(
            self.options,
            time_budget=ctx.tuning_seconds,
            max_trials=ctx.tuning_trials,
            members=members,
            seed=ctx.seed,
        )
        return super().validate(ctx)

    def fit(self, data: TabularData, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        fitted = super().fit(data, tuned, ctx)
        model = AvailabilityModel.of(fitted.model, self.prior)
        return Fitted(model, ALGORITHM, fitted.params | {"prior": self.prior})

    def evaluate(self, fitted: Fitted, data: TabularData, ctx: TrainingContext) -> dict[str, Any]:
        """The learner's held-out numbers, plus the model, the history-only baseline and
        the cold starts on the same held-out rows (never a training row)."""
        metrics = super().evaluate(fitted, data, ctx)
        held = self.frame.iloc[data.prepared.keep[data.held]]
        if held.empty:
            return metrics
        y = held[TARGET].to_numpy(dtype=np.float64)
        full = held[list(MODEL_FEATURES)].to_numpy(dtype=np.float64)
        p = fitted.model.predict(full)
        base = full[:, BASE_RATE]
        metrics |= {f"holdout_{k}": v for k, v in binary_metrics(y, p).items()}
        metrics |= {f"baseline_{k}": v for k, v in binary_metrics(y, base).items()}
        cold = held["n_attempts"].to_numpy() < COLD_START_ATTEMPTS
        metrics["cold_start_rows"] = int(cold.sum())
        if cold.any():
            metrics |= {f"cold_start_{k}": v for k, v in binary_metrics(y[cold], p[cold]).items()}
        metrics["prior"] = round(self.prior, 5)
        return metrics

    def describe(self, fitted: Fitted, data: TabularData) -> Described:
        """As the learner's, with the rule the registry keeps: the history-only baseline
        shrunk to this training's success rate (it needs no artifact to answer)."""
        described = super().describe(replace(fitted, model=fitted.model.blend), data)
        return replace(described, fallback=HistoryRule(self.prior).to_dict())


def rule_from_version(mv: Any) -> HistoryRule:
    """The rule of a registered version (its stored prior)."""
    return HistoryRule.from_dict(getattr(mv, "fallback", None))
