"""The CatBoost candidate: ordered boosting with native categorical handling.

Strong on small tables with many categories. It runs its default configuration (the
library's defaults are well tuned) with early stopping per fold; if the first fold shows
that the rest would not fit in the seconds it was given, it stops and is left out with
that reason. Categories go in as their signature codes, as text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.tabular.members import CVResult, Design, OnTrial, score_oof
from foresight.platform.tabular.splits import Fold

MAX_ITERATIONS = 500  # CatBoost picks a larger learning rate for fewer iterations
EARLY_STOP = 50


def _frame(matrix: np.ndarray, cats: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, columns=[f"f{i}" for i in range(matrix.shape[1])])
    for i in cats:
        codes = matrix[:, i]
        frame[f"f{i}"] = np.where(np.isnan(codes), "missing", codes.astype("U12"))
    return frame


def _pool(d: Design, matrix: np.ndarray, y: np.ndarray | None = None) -> Any:
    from catboost import Pool

    cats = d.signature.categorical_indices
    return Pool(_frame(matrix, cats), y, cat_features=cats)


def _estimator(d: Design, iterations: int, early: bool) -> Any:
    import catboost

    params: dict[str, Any] = {
        "iterations": iterations,
        "thread_count": 2,
        "random_seed": d.seed,
        "verbose": 0,
        "allow_writing_files": False,
    }
    if early:
        params["od_type"], params["od_wait"] = "Iter", EARLY_STOP
    task = d.target.task
    if task == "regression":
        params["loss_function"] = "MAE" if d.metric.name == "mae" else "RMSE"
        return catboost.CatBoostRegressor(**params)
    params["loss_function"] = "Logloss" if task == "binary" else "MultiClass"
    return catboost.CatBoostClassifier(**params)


def _raw(model: Any, pool: Any, width: int) -> np.ndarray:
    out = np.asarray(model.predict(pool, prediction_type="RawFormulaVal"), dtype=float)
    return out.reshape(-1, width)


class CatBoostCandidate:
    name = "catboost"

    def cross_validate(
        self, d: Design, folds: list[Fold], seconds: float, on_trial: OnTrial
    ) -> CVResult:
        started = time.perf_counter()
        oof = np.full((len(d.y), d.target.width), np.nan)
        rounds: list[int] = []
        for number, (tr, va) in enumerate(folds, start=1):
            model = _estimator(d, MAX_ITERATIONS, early=True)
            model.fit(
                _pool(d, d.matrix[tr], d.y[tr]),
                eval_set=_pool(d, d.matrix[va], d.y[va]),
                use_best_model=True,
            )
            rounds.append(int(model.get_best_iteration() or MAX_ITERATIONS) + 1)
            oof[va] = _raw(model, _pool(d, d.matrix[va]), d.target.width)
            spent = time.perf_counter() - started
            projected = spent / number * len(folds) * 1.25  # the refit on every row too
            if number < len(folds) and projected > seconds:
                raise TimeoutError(
                    f"{len(folds)} folds and a refit would take about {projected:.0f} s "
                    f"of the {seconds:.0f} s it was given"
                )
        score = score_oof(d, oof)
        on_trial(self.name, 1, score)
        return CVResult(
            oof, score, {"iterations": int(np.mean(rounds))}, time.perf_counter() - started
        )

    def fit(self, d: Design, cv: CVResult) -> CatBoostMember:
        model = _estimator(d, cv.params["iterations"], early=False)
        model.fit(_pool(d, d.matrix, d.y))
        return CatBoostMember(
            model, d.signature.categorical_indices, d.target.width, dict(cv.params)
        )


@dataclass
class CatBoostMember:
    model: Any
    cats: list[int]
    width: int
    params: dict[str, Any]
    name: str = "catboost"

    def _pool(self, matrix: np.ndarray) -> Any:
        from catboost import Pool

        return Pool(_frame(matrix, self.cats), cat_features=self.cats)

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return _raw(self.model, self._pool(matrix), self.width)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        shap = np.asarray(self.model.get_feature_importance(self._pool(matrix), type="ShapValues"))
        return shap.reshape(len(matrix), self.width, -1)

    def margin_one(self, row: np.ndarray) -> np.ndarray:
        return self.margin(row.reshape(1, -1))[0]

    def contributions_one(self, row: np.ndarray) -> np.ndarray:
        return self.contributions(row.reshape(1, -1))[0]
