"""The tabular learner as a training spec: any table in, a registered, gated model out.

:class:`TabularTrainingSpec` runs :func:`~foresight.platform.tabular.learner.fit_table`
inside the platform's :class:`~foresight.platform.training.TrainingPipeline`, so a fit
is a logged training run and a registry version like any app's model (algorithm
``tabular_blend``, app None), gated against the production version of the same name
on the candidate's own held-out rows.

What the registry row holds: ``metrics`` is flat and numeric (the held-out metrics by
name, ``cv_<metric>`` for the out-of-fold ones, row counts); ``params`` says how it was
fitted (task, metric, blend weights, options); ``fallback`` is the training rows' answer
(:class:`PriorModel`), which serves when no fitted version can be loaded. The model
card (leaderboard, notes, calibration, importance) lives in the artifact
(``model.card``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.drift import Reference
from foresight.platform.errors import Conflict, InvalidInput
from foresight.platform.registry import ModelVersion
from foresight.platform.tabular.learner import LearnedTable, LearnerOptions, fit_table
from foresight.platform.tabular.prepare import FrameTransform, Prepared, prepare
from foresight.platform.tabular.signature import FieldWarning, Signature
from foresight.platform.tabular.splits import holdout
from foresight.platform.tabular.tasks import METRICS, Target, metric_for
from foresight.platform.training import Described, Fitted, TrainingContext

ALGORITHM = "tabular_blend"
# A name becomes a folder of the artifact store and a URL segment: no separators, no dots.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Bounded scores (ROC-AUC, accuracy, macro-F1) may lose this much on the gate; losses
# (log loss, RMSE, MAE) have no natural scale, so theirs is a share of the candidate's.
ABSOLUTE_TOLERANCE = 0.005
RELATIVE_TOLERANCE = 0.01
MIN_SCORED = 0.9  # share of the held-out rows production must score for a fair gate


def check_name(name: str) -> str:
    """``name`` if it can name a tabular model, else an :class:`InvalidInput` saying why.

    >>> check_name("penguins_v2")
    'penguins_v2'
    """
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"the model name {name!r} is not allowed; use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def is_tabular(mv: ModelVersion) -> bool:
    """Whether a registered version was fitted by the tabular learner."""
    return mv.algorithm == ALGORITHM


@dataclass
class TabularData:
    """The user's table and the rows the candidate never fits on (for the gate)."""

    frame: pd.DataFrame
    prepared: Prepared
    train: np.ndarray  # positions in ``prepared`` (rows with a target)
    held: np.ndarray
    fingerprint: str
    learned: LearnedTable | None = None

    @property
    def held_frame(self) -> pd.DataFrame:
        """The held-out rows as the user gave them (every column, the target too)."""
        return self.frame.iloc[self.prepared.keep[self.held]].reset_index(drop=True)


class TabularTrainingSpec:
    """Fit the tabular learner on ``frame`` and register it as model ``name``.

    ``gate_metric`` is the learner's metric for the task (known once the target is
    read; ``--metric`` chooses it) and the gate tolerance follows it (see the constants
    above) unless ``tolerance`` is given.
    """

    gate_tolerance: float = ABSOLUTE_TOLERANCE

    def __init__(
        self,
        name: str,
        frame: pd.DataFrame,
        options: LearnerOptions,
        *,
        tolerance: float | None = None,
    ) -> None:
        self.model_name = check_name(name)
        self.frame = frame
        self.options = options
        self.tolerance = tolerance
        self.gate_metric = options.metric or "roc_auc"
        self.higher_is_better = True
        self.learned: LearnedTable | None = None  # the last fit (its card, for reports)

    # ---- the pipeline's steps ----------------------------------------------------------
    def validate(self, ctx: TrainingContext) -> Prepared:
        """Check the options and the table (the learner's own checks, run up front)."""
        o = self.options
        if not 0.05 <= o.holdout <= 0.5:
            raise InvalidInput(
                f"the held-out share must be between 0.05 and 0.5, got {o.holdout}: the gate "
                "compares versions on held-out rows"
            )
        if o.time_budget <= 0:
            raise InvalidInput(f"the time budget must be positive, got {o.time_budget}")
        if self.frame.empty:
            raise InvalidInput("the table has no rows")
        prepared = prepare(
            self.frame,
            o.target,
            task=o.task,
            time_column=o.time_column,
            group=o.group,
            drop=o.drop,
        )
        metric = metric_for(prepared.target.task, o.metric)
        self.gate_metric, self.higher_is_better = metric.name, metric.higher_is_better
        return prepared

    def features(self, prepared: Prepared, ctx: TrainingContext) -> TabularData:
        """The held-out rows, chosen as the learner chooses them (same seed and rule)."""
        o = self.options
        train, held = holdout(
            prepared.target.task,
            prepared.y,
            o.holdout,
            seed=o.seed,
            groups=prepared.groups,
            order=prepared.order,
        )
        return TabularData(self.frame, prepared, train, held, fingerprint(self.frame))

    def tune(self, data: TabularData, ctx: TrainingContext) -> dict[str, Any]:
        """Cross-validate, tune, blend and refit every candidate within the time box."""
        data.learned = self.learned = fit_table(
            self.frame,
            self.options,
            progress=lambda step, fraction, message: ctx.progress("tune", fraction, message),
        )
        return {"learned": data.learned}

    def fit(self, data: TabularData, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        learned: LearnedTable = tuned["learned"]
        model, o = learned.model, self.options
        params = {
            "target": o.target,
            "task": model.task,
            "metric": model.metric,
            "classes": model.classes,
            "blend": dict(model.weights),
            "folds": learned.metrics.get("folds"),
            "time_budget": o.time_budget,
            "holdout": o.holdout,
            "seed": o.seed,
            "time_column": o.time_column,
            "group": o.group,
            "drop": list(o.drop),
        }
        return Fitted(model=model, algorithm=ALGORITHM, params=params)

    def evaluate(self, fitted: Fitted, data: TabularData, ctx: TrainingContext) -> dict[str, Any]:
        """Flat numbers a user reads: held-out metrics by name, ``cv_<metric>``, rows."""
        assert data.learned is not None
        learned = data.learned
        metrics: dict[str, Any] = dict(learned.metrics.get("holdout", {}))
        metrics |= {f"cv_{k}": v for k, v in learned.metrics.get("cv", {}).items()}
        metrics |= {f"{k}_rows": v for k, v in learned.rows.items()}
        metrics["fit_seconds"] = round(learned.seconds, 1)
        if self.tolerance is None and not self.higher_is_better:
            value = metrics.get(self.gate_metric)
            self.gate_tolerance = RELATIVE_TOLERANCE * abs(value) if value else 0.0
        elif self.tolerance is not None:
            self.gate_tolerance = self.tolerance
        return {k: v for k, v in metrics.items() if isinstance(v, int | float)}

    def describe(self, fitted: Fitted, data: TabularData) -> Described:
        model = fitted.model
        rows = data.frame.iloc[data.prepared.keep[data.train]]
        # Drift is measured on the inputs as clients send them: the model's own columns
        # (not the date parts it derives, nor the columns it drops).
        inputs = [c for c in model.signature.names if c in rows.columns]
        return Described(
            signature=model.signature.to_dict(),
            fallback=prior_answer(model.target, data.prepared.y[data.train], model.transform),
            data_fingerprint=data.fingerprint,
            reference=Reference.from_frame(rows[inputs]).to_dict() if inputs else None,
        )

    def score(self, model: Any, data: TabularData) -> float | None:
        """The gate metric of any tabular model on these held-out rows, from its answers.

        None when it cannot be compared: not a tabular model, other classes, columns it
        needs are absent, or it cannot read most of the rows.
        """
        if not hasattr(model, "score_frame") or not len(data.held):
            return None
        target = data.prepared.target
        if list(getattr(model, "classes", [])) != list(target.classes):
            return None
        try:
            answers = model.score_frame(data.held_frame, strict=False).frame
        except InvalidInput:
            return None
        margin = _margin(answers, target)
        ok = np.isfinite(margin).all(axis=1)
        if ok.mean() < MIN_SCORED:
            return None
        y = data.prepared.y[data.held]
        # Rounded as the learner rounds the candidate's metrics: equal models tie.
        return round(float(METRICS[self.gate_metric].score(y[ok], margin[ok], target)), 6)


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of the table's values and column names (the same table, the same text)."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _margin(answers: pd.DataFrame, target: Target) -> np.ndarray:
    """Margins the task's metrics read, rebuilt from answer columns (NaN where none)."""
    if target.task == "regression":
        return answers[["prediction"]].to_numpy(dtype=float)
    proba = answers[[f"proba_{c}" for c in target.classes]].to_numpy(dtype=float)
    proba = np.clip(proba, 1e-7, 1 - 1e-7)
    if target.task == "binary":
        p = proba[:, 1:]
        return np.asarray(np.log(p / (1 - p)))
    return np.asarray(np.log(proba))  # softmax(log p) is p again


# ---- the rule baseline: the training rows' answer --------------------------------------
def prior_answer(target: Target, y: np.ndarray, transform: FrameTransform) -> dict[str, Any]:
    """The registry's ``fallback``: class shares, or the median and a central interval."""
    answer: dict[str, Any] = {"task": target.task, "classes": list(target.classes)}
    if target.task == "regression":
        median = float(np.median(y))
        half = float(np.quantile(np.abs(y - median), 0.9))
        answer |= {"prediction": median, "lower": median - half, "upper": median + half}
    else:
        shares = np.bincount(y.astype(int), minlength=len(target.classes)) / max(1, len(y))
        answer["prediction"] = target.classes[int(np.argmax(shares))]
        answer |= {f"proba_{c}": float(s) for c, s in zip(target.classes, shares, strict=True)}
    answer["transform"] = {"dropped": transform.dropped, "dates": transform.dates}
    return answer


@dataclass
class PriorModel:
    """Answers every valid record with the training rows' answer (no features used).

    The last link of a tabular model's fallback chain: built from the registry row
    alone, so it answers even when every artifact is unreadable. Records are validated
    against the version's signature as the fitted model would.
    """

    signature: Signature
    transform: FrameTransform
    answer: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    algorithm: str = "prior"

    @classmethod
    def of(cls, mv: ModelVersion) -> PriorModel:
        """The rule baseline of a tabular version (a Conflict for any other model)."""
        if not is_tabular(mv) or "transform" not in mv.fallback:
            raise Conflict(f"model {mv.name!r} is not a tabular model")
        stored = dict(mv.fallback)
        transform = FrameTransform(**stored.pop("transform"))
        return cls(Signature.from_dict(mv.signature), transform, stored, stored["classes"])

    @property
    def task(self) -> str:
        return str(self.answer["task"])

    def predict_record(self, record: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
        """The prior answer for a valid record; a 422 naming the fields otherwise."""
        warnings: list[FieldWarning] = []
        _, errors = self.signature.encode_record(self.transform.record(record), warnings=warnings)
        if errors:
            raise InvalidInput(
                f"{len(errors)} field(s) are invalid", details=[e.as_dict() for e in errors]
            )
        out = {k: v for k, v in self.answer.items() if k not in ("task", "classes")}
        if explain:
            out["factors"] = []
        out["warnings"] = [w.as_dict() for w in warnings]
        return out
