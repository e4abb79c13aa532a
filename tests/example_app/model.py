"""Least squares on a 75/25 split; the rule baseline tips the training mean share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.registry import ModelVersion
from foresight.platform.training import Described, Fitted, TrainingContext
from tests.example_app.features import design

MODEL_NAME = "tips"


@dataclass
class LinearTip:
    coef: np.ndarray

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return design(frame) @ self.coef


@dataclass
class MeanTipRule:
    share: float = 0.15

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["bill"].to_numpy(float) * self.share


def rule_from_version(mv: ModelVersion) -> MeanTipRule:
    return MeanTipRule(float(mv.fallback.get("share", 0.15)))


class TipsTrainingSpec:
    model_name = MODEL_NAME
    gate_metric = "mae"
    higher_is_better = False
    gate_tolerance = 0.0

    def __init__(self, load: Any) -> None:
        self._load = load

    def validate(self, ctx: TrainingContext) -> pd.DataFrame:
        frame = self._load()
        if len(frame) < 20:
            raise InvalidInput(f"need at least 20 tables to train; have {len(frame)}")
        return frame

    def features(self, data: pd.DataFrame, ctx: TrainingContext) -> dict[str, pd.DataFrame]:
        holdout = data.sample(frac=0.25, random_state=ctx.seed)
        return {"train": data.drop(holdout.index), "holdout": holdout}

    def tune(self, dataset: dict[str, pd.DataFrame], ctx: TrainingContext) -> dict[str, Any]:
        return {}

    def fit(self, dataset: dict[str, Any], tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        train = dataset["train"]
        coef, *_ = np.linalg.lstsq(design(train), train["tip"].to_numpy(float), rcond=None)
        return Fitted(LinearTip(coef), algorithm="least_squares", params={})

    def evaluate(self, fitted: Fitted, dataset: dict[str, Any], ctx: TrainingContext) -> dict:
        return {"mae": self.score(fitted.model, dataset)}

    def describe(self, fitted: Fitted, dataset: dict[str, Any]) -> Described:
        train = dataset["train"]
        share = float((train["tip"] / train["bill"]).mean())
        return Described(
            signature={"columns": ["bill", "party_size"]},
            fallback={"share": share},
            data_fingerprint=str(len(train)),
        )

    def score(self, model: Any, dataset: dict[str, Any]) -> float:
        held = dataset["holdout"]
        return float(np.abs(model.predict(held) - held["tip"].to_numpy(float)).mean())
