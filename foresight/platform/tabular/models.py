"""Binary classifiers over an encoded signature row, with exact additive explanations.

Both models explain in calibrated log-odds exactly (TreeSHAP for LightGBM via
``pred_contrib``; the closed form for a linear model), and then spread the change in
probability over the features in proportion to their log-odds share, so that the
contributions a user reads add up to ``probability - base_probability``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import structlog

from foresight.platform.tabular.compiled import CompiledForest
from foresight.platform.tabular.fastrow import FastRowPredictor
from foresight.platform.tabular.signature import Signature

log = structlog.get_logger(__name__)
BATCH_ROWS = 2000  # from here on, batches use every core (and compiled trees if present)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Explanation:
    """Per-row additive explanation: ``base + sum(log_odds) == logit(probability)``."""

    probability: np.ndarray  # (n,)
    base_log_odds: np.ndarray  # (n,)
    log_odds: np.ndarray  # (n, k)

    def probability_contributions(self) -> np.ndarray:
        """Each feature's share of ``probability - sigmoid(base)``, in probability points."""
        delta = self.probability - sigmoid(self.base_log_odds)
        total = self.log_odds.sum(axis=1)
        safe = np.where(np.abs(total) < 1e-12, 1.0, total)
        share = self.log_odds / safe[:, None]
        slope = self.probability * (1 - self.probability)
        # When the log-odds cancel out exactly the share is undefined; the local slope is
        # the first-order answer.
        return np.where(
            (np.abs(total) < 1e-12)[:, None], self.log_odds * slope[:, None], share * delta[:, None]
        )


@dataclass
class RowExplanation:
    """One row's explanation in plain floats (the single-request path avoids NumPy calls)."""

    probability: float
    base_log_odds: float
    log_odds: list[float]

    @classmethod
    def first_of(cls, expl: Explanation) -> RowExplanation:
        return cls(
            float(expl.probability[0]), float(expl.base_log_odds[0]), expl.log_odds[0].tolist()
        )

    @property
    def base_probability(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.base_log_odds))

    def probability_contributions(self) -> list[float]:
        """As :meth:`Explanation.probability_contributions`, for this row."""
        total = sum(self.log_odds)
        p = self.probability
        if abs(total) < 1e-12:
            slope = p * (1 - p)
            return [v * slope for v in self.log_odds]
        scale = (p - self.base_probability) / total
        return [v * scale for v in self.log_odds]


class BinaryModel(Protocol):
    algorithm: str
    signature: Signature

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray: ...

    def explain(self, matrix: np.ndarray) -> Explanation: ...

    def explain_one(self, row: np.ndarray) -> RowExplanation: ...


@dataclass
class LightGBMModel:
    """A LightGBM booster plus Platt calibration fitted on out-of-fold scores."""

    signature: Signature
    booster: lgb.Booster
    calib_a: float = 1.0
    calib_b: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    algorithm: str = "lightgbm"
    compiled: CompiledForest | None = None  # native code for batches, when a compiler exists

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # native handles: rebuilt lazily after loading
        return state

    @property
    def fast(self) -> FastRowPredictor:
        fast: FastRowPredictor | None = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastRowPredictor(
                self.booster, len(self.signature.columns)
            )
        return fast

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) == 1:
            return np.array([self.fast.raw(matrix[0])])
        if len(matrix) >= BATCH_ROWS and self.compiled is not None:
            try:
                return self.compiled.predict_raw(matrix)
            except Exception as exc:  # a library this machine cannot load: use the booster
                log.warning("compiled_trees_unusable", error=f"{type(exc).__name__}: {exc}")
                self.compiled = None
        # One thread for small batches: thread start-up costs more than the trees.
        threads = 1 if len(matrix) < BATCH_ROWS else 0
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=threads))

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return sigmoid(self.calib_a * self.raw(matrix) + self.calib_b)

    def explain_one(self, row: np.ndarray) -> RowExplanation:
        contrib = self.fast.contributions(row).tolist()
        a = self.calib_a
        log_odds = [a * v for v in contrib[:-1]]
        base = a * contrib[-1] + self.calib_b
        probability = 1.0 / (1.0 + math.exp(-(base + sum(log_odds))))
        return RowExplanation(probability, base, log_odds)

    def explain(self, matrix: np.ndarray) -> Explanation:
        if len(matrix) == 1:
            contrib = self.fast.contributions(matrix[0]).reshape(1, -1)
        else:
            threads = 1 if len(matrix) < BATCH_ROWS else 0
            contrib = np.asarray(
                self.booster.predict(matrix, pred_contrib=True, num_threads=threads)
            )
        # Platt is affine in log-odds, so scaling TreeSHAP values keeps them exact.
        log_odds = self.calib_a * contrib[:, :-1]
        base = self.calib_a * contrib[:, -1] + self.calib_b
        probability = sigmoid(base + log_odds.sum(axis=1))
        return Explanation(probability=probability, base_log_odds=base, log_odds=log_odds)


@dataclass
class LogisticModel:
    """Logistic regression on standardised numbers and one-hot categories, in NumPy."""

    signature: Signature
    mean: np.ndarray  # numeric columns, training mean (also the imputation value)
    scale: np.ndarray
    numeric_weights: np.ndarray
    category_weights: dict[int, np.ndarray]  # column index -> weight per category code
    category_freq: dict[int, np.ndarray]  # column index -> training share per code
    bias: float
    params: dict[str, Any] = field(default_factory=dict)
    algorithm: str = "logistic_regression"

    @property
    def _numeric_idx(self) -> list[int]:
        return [i for i, c in enumerate(self.signature.columns) if c.kind == "numeric"]

    def _terms(self, matrix: np.ndarray) -> tuple[np.ndarray, float]:
        n, k = matrix.shape
        terms = np.zeros((n, k))
        num_idx = self._numeric_idx
        if num_idx:
            values = matrix[:, num_idx]
            z = (np.where(np.isnan(values), self.mean, values) - self.mean) / self.scale
            terms[:, num_idx] = z * self.numeric_weights
        base = self.bias
        for col, weights in self.category_weights.items():
            codes = matrix[:, col]
            known = ~np.isnan(codes)
            expected = float(self.category_freq[col] @ weights)
            contrib = np.zeros(n)
            contrib[known] = weights[codes[known].astype(int)]
            # Centre on the training expectation: exact SHAP for a linear model.
            terms[:, col] = contrib - expected
            base += expected
        return terms, base

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        terms, base = self._terms(matrix)
        return sigmoid(base + terms.sum(axis=1))

    def explain(self, matrix: np.ndarray) -> Explanation:
        terms, base = self._terms(matrix)
        probability = sigmoid(base + terms.sum(axis=1))
        return Explanation(
            probability=probability, base_log_odds=np.full(len(matrix), base), log_odds=terms
        )

    def explain_one(self, row: np.ndarray) -> RowExplanation:
        return RowExplanation.first_of(self.explain(row.reshape(1, -1)))


@dataclass
class RuleModel:
    """One-rule baseline: the training positive rate of one categorical column's value.

    Kept as JSON in the registry row (not in the artifact file), so it still answers
    when every artifact is unreadable.
    """

    signature: Signature
    column: str | None
    rates: dict[str, float]
    prior: float
    algorithm: str = "rule_baseline"

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "rates": self.rates, "prior": self.prior}

    @classmethod
    def from_dict(cls, signature: Signature, data: dict[str, Any]) -> RuleModel:
        return cls(signature, data.get("column"), data.get("rates", {}), data["prior"])

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        out = np.full(len(matrix), self.prior)
        if self.column is None:
            return out
        idx = self.signature.names.index(self.column)
        cats = self.signature.columns[idx].categories
        for row, code in enumerate(matrix[:, idx]):
            if not np.isnan(code):
                out[row] = self.rates.get(cats[int(code)], self.prior)
        return out

    def explain(self, matrix: np.ndarray) -> Explanation:
        probability = self.predict_proba(matrix)
        logit_p = np.log(probability / (1 - probability))
        base = np.full(len(matrix), float(np.log(self.prior / (1 - self.prior))))
        log_odds = np.zeros((len(matrix), len(self.signature.columns)))
        if self.column is not None:
            log_odds[:, self.signature.names.index(self.column)] = logit_p - base
        return Explanation(probability=probability, base_log_odds=base, log_odds=log_odds)

    def explain_one(self, row: np.ndarray) -> RowExplanation:
        return RowExplanation.first_of(self.explain(row.reshape(1, -1)))


def fit_rule_model(signature: Signature, matrix: np.ndarray, y: np.ndarray) -> RuleModel:
    """Pick the categorical column whose per-value rates separate the classes best."""
    from sklearn.metrics import roc_auc_score

    prior = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    best: tuple[float, str | None, dict[str, float]] = (0.5, None, {})
    for idx in signature.categorical_indices:
        col = signature.columns[idx]
        codes = matrix[:, idx]
        rates: dict[str, float] = {}
        for code, cat in enumerate(col.categories):
            mask = codes == code
            # Smoothed towards the prior so a rare value does not get a 0 or 1 rate.
            rates[cat] = float((y[mask].sum() + 10 * prior) / (mask.sum() + 10))
        scores = np.array(
            [rates[col.categories[int(c)]] if not np.isnan(c) else prior for c in codes]
        )
        auc = roc_auc_score(y, scores) if len(np.unique(y)) > 1 else 0.5
        if auc > best[0]:
            best = (float(auc), col.name, rates)
    return RuleModel(signature=signature, column=best[1], rates=best[2], prior=prior)
