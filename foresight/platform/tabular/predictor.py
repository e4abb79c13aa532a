"""A fitted blend, served: validation, predictions, intervals and additive explanations.

The blend's margin is the weighted sum of its members' margins, and so are its
explanations: each member's exact contributions (TreeSHAP, or the linear model's centred
terms) times its weight. They add up to the blended margin; Platt scaling and a
temperature are affine in it, so explanations of calibrated log-odds stay exact (with
isotonic calibration the change in probability is shared in proportion to log-odds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.tabular.blend import Calibration
from foresight.platform.tabular.members import FittedMember
from foresight.platform.tabular.models import Explanation, RowExplanation
from foresight.platform.tabular.prepare import FrameTransform
from foresight.platform.tabular.signature import FieldError, FieldWarning, Signature
from foresight.platform.tabular.tasks import Target, sigmoid

TOP_FACTORS = 5


@dataclass
class Scores:
    """A frame's answers (one row per input row, NaN where a row failed) and problems."""

    frame: pd.DataFrame
    errors: list[FieldError]
    warnings: list[FieldWarning]


@dataclass
class TabularModel:
    target: Target
    signature: Signature
    transform: FrameTransform
    members: dict[str, FittedMember]
    weights: dict[str, float]
    calibration: Calibration
    metric: str
    card: dict[str, Any] = field(default_factory=dict)  # leaderboard, notes, metrics
    algorithm: str = "tabular_blend"

    @property
    def task(self) -> str:
        return self.target.task

    @property
    def classes(self) -> list[str]:
        return list(self.target.classes)

    # ---- matrices ---------------------------------------------------------------------
    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(
            np.sum([w * self.members[n].margin(matrix) for n, w in self.weights.items()], axis=0)
        )

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(n, width, features + 1) blended contributions; the last entry is the base."""
        return np.asarray(
            np.sum(
                [w * self.members[n].contributions(matrix) for n, w in self.weights.items()],
                axis=0,
            )
        )

    def outputs(self, margin: np.ndarray) -> dict[str, np.ndarray]:
        """Named answer columns from blended margins."""
        if self.target.task == "regression":
            value = margin[:, 0]
            half = self.calibration.half_width
            return {"prediction": value, "lower": value - half, "upper": value + half}
        proba = self.calibration.probabilities(margin, self.target)
        out: dict[str, np.ndarray] = {
            "prediction": np.asarray(self.target.classes, dtype=object)[proba.argmax(axis=1)]
        }
        for i, name in enumerate(self.target.classes):
            out[f"proba_{name}"] = proba[:, i]
        return out

    # ---- frames (batch) ---------------------------------------------------------------
    def score_frame(
        self, frame: pd.DataFrame, *, explain: bool = False, strict: bool = False
    ) -> Scores:
        """Answer every row that passes validation; report the others by position.

        Not strict (the default for files), an unknown category or a missing value is
        read as missing, with a warning; strict (the API), they are errors.
        """
        warnings: list[FieldWarning] = []
        try:
            matrix, errors = self.signature.encode_frame(
                self.transform.frame(frame), warnings=warnings
            )
        except ValueError as exc:  # columns missing
            raise InvalidInput(str(exc)) from None
        if not strict:
            errors, lenient = _split_lenient(self.signature, errors)
            warnings += lenient
        bad = np.zeros(len(frame), dtype=bool)
        for e in errors:
            if e.row is not None:
                bad[e.row] = True
        good = np.flatnonzero(~bad)
        columns: dict[str, Any] = {}
        if len(good):
            rows = matrix[good]
            contrib = self.contributions(rows) if explain else None
            margin = contrib.sum(axis=2) if contrib is not None else self.margin(rows)
            for name, values in self.outputs(margin).items():
                full = np.full(len(frame), np.nan, dtype=values.dtype)
                full[good] = values
                columns[name] = full
            if contrib is not None:
                factors: list[Any] = [None] * len(frame)
                for pos, row_index in enumerate(good):
                    factors[row_index] = self._factors(rows[pos], contrib[pos], margin[pos])
                columns["factors"] = factors
        out = pd.DataFrame(columns, index=frame.index)
        return Scores(out, errors, warnings)

    def predict_frame(self, frame: pd.DataFrame, *, explain: bool = False) -> pd.DataFrame:
        """One answer row per input row (NaN where a row failed validation)."""
        return self.score_frame(frame, explain=explain).frame

    # ---- one record (the serving fast path) ------------------------------------------
    def predict_record(self, record: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
        """One record's answer; a record that fails validation is a 422 naming the fields."""
        warnings: list[FieldWarning] = []
        values = self.transform.record(record)
        if self.signature.dropped:  # ignored as a file ignores them (ids, constant parts)
            values = {k: v for k, v in values.items() if k not in self.signature.dropped}
        row, errors = self.signature.encode_record(values, warnings=warnings)
        if errors:
            raise InvalidInput(
                f"{len(errors)} field(s) are invalid", details=[e.as_dict() for e in errors]
            )
        if explain:
            contrib = np.sum(
                [w * self.members[n].contributions_one(row) for n, w in self.weights.items()],
                axis=0,
            )
            margin = contrib.sum(axis=1)
        else:
            margin = np.sum(
                [w * self.members[n].margin_one(row) for n, w in self.weights.items()], axis=0
            )
        answer = {k: _plain(v[0]) for k, v in self.outputs(margin.reshape(1, -1)).items()}
        if explain:
            answer["factors"] = self._factors(row, contrib, margin)
        answer["warnings"] = [w.as_dict() for w in warnings]
        return answer

    # ---- a binary model's probability view (what an app's hot path serves) -------------
    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """P(the second class) per encoded row (binary models)."""
        return self.calibration.probability(self.margin(matrix)[:, 0])

    def explain(self, matrix: np.ndarray) -> Explanation:
        """Calibrated log-odds contributions per encoded row (binary models)."""
        contrib = self.contributions(matrix)[:, 0, :]
        a, b = self._affine()
        probability = self.calibration.probability(contrib.sum(axis=1))
        return Explanation(probability, a * contrib[:, -1] + b, a * contrib[:, :-1])

    def explain_one(self, row: np.ndarray) -> RowExplanation:
        """As :meth:`explain`, for one row, on the members' single-row paths."""
        contrib = np.sum(
            [w * self.members[n].contributions_one(row)[0] for n, w in self.weights.items()],
            axis=0,
        )
        a, b = self._affine()
        margin = float(contrib.sum())
        if self.calibration.kind == "isotonic":
            probability = float(np.interp(margin, self.calibration.xs, self.calibration.ys))
        else:
            probability = 1.0 / (1.0 + math.exp(-(a * margin + b)))
        return RowExplanation(probability, a * float(contrib[-1]) + b, (a * contrib[:-1]).tolist())

    @property
    def params(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "members": {n: m.params for n, m in self.members.items()},
            "calibration": self.calibration.kind,
        }

    def _affine(self) -> tuple[float, float]:
        cal = self.calibration
        return (cal.a, cal.b) if cal.affine else (1.0, 0.0)

    # ---- explanations -----------------------------------------------------------------
    def _factors(self, row: np.ndarray, contrib: np.ndarray, margin: np.ndarray) -> list[dict]:
        """The largest contributions to the answer, in the user's values.

        Binary: probability points (they add up to probability - base probability).
        Multiclass: log-odds of the predicted class. Regression: target units.
        """
        task = self.target.task
        k = contrib.shape[1] - 1
        if task == "binary":
            cal = self.calibration
            a = cal.a if cal.affine else 1.0
            log_odds = a * contrib[0, :k]
            base = a * contrib[0, k] + (cal.b if cal.affine else 0.0)
            p = float(cal.probability(np.array([margin[0]]))[0])
            values = _probability_points(log_odds, base, p)
        elif task == "multiclass":
            cls = int(np.argmax(margin))
            values = self.calibration.a * (contrib[cls, :k] - contrib[:, :k].mean(axis=0))
        else:
            values = contrib[0, :k]
        order = np.argsort(-np.abs(values))[:TOP_FACTORS]
        return [
            {
                "feature": self.signature.columns[i].name,
                "value": self.signature.decode_value(int(i), float(row[i])),
                "contribution": round(float(values[i]), 6),
            }
            for i in order
            if abs(values[i]) > 1e-12
        ]


def _probability_points(log_odds: np.ndarray, base: float, p: float) -> np.ndarray:
    total = float(log_odds.sum())
    if abs(total) < 1e-12:
        return np.asarray(log_odds * p * (1 - p))
    return np.asarray(log_odds * (p - float(sigmoid(np.array([base]))[0])) / total)


def _split_lenient(
    signature: Signature, errors: list[FieldError]
) -> tuple[list[FieldError], list[FieldWarning]]:
    """Unknown categories and missing values become warnings (the cell is left missing)."""
    hard: list[FieldError] = []
    soft: list[FieldWarning] = []
    kinds = {c.name: c.kind for c in signature.columns}
    for e in errors:
        if kinds.get(e.field) == "categorical" or e.message.startswith("missing"):
            soft.append(FieldWarning(e.field, e.message + "; read as missing", None, e.row))
        else:
            hard.append(e)
    return hard, soft


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
