"""What every candidate of the learner provides, and the LightGBM candidate.

A candidate cross-validates itself within the seconds it is given (tuning if it can),
returning out-of-fold margins, then refits on every training row. A fitted member gives
margins and exact additive contributions (TreeSHAP for trees, centred terms for the
linear model): ``contributions(x).sum(axis=-1) == margin(x)``, the last entry of the
last axis being the member's base value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import lightgbm as lgb
import numpy as np
import optuna

from foresight.platform.tabular.compiled import CompiledForest
from foresight.platform.tabular.fastrow import FastRowPredictor
from foresight.platform.tabular.signature import Signature
from foresight.platform.tabular.splits import Fold
from foresight.platform.tabular.tasks import Metric, Target

OnTrial = Callable[[str, int, float], None]  # (member, trials so far, best out-of-fold score)
BATCH_ROWS = 2000  # from here on, tree batches use every core (and compiled trees)
MAX_ROUNDS = 2000  # trees per model at most: single-row TreeSHAP time grows with them


@dataclass
class Design:
    """The encoded training rows a candidate learns from."""

    matrix: np.ndarray  # signature codes: categories as codes, missing as NaN
    y: np.ndarray
    signature: Signature
    target: Target
    metric: Metric
    seed: int = 42


@dataclass
class CVResult:
    oof: np.ndarray  # (n, width) out-of-fold margins; NaN on rows no fold checked
    score: float  # the metric on the checked rows
    params: dict[str, Any]
    seconds: float
    trials: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class FittedMember(Protocol):
    name: str
    params: dict[str, Any]

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        """(n, width) margins."""
        ...

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(n, width, features + 1): per-feature terms, then the base value."""
        ...

    def margin_one(self, row: np.ndarray) -> np.ndarray:
        """(width,) margins of one encoded row (the serving fast path)."""
        ...

    def contributions_one(self, row: np.ndarray) -> np.ndarray:
        """(width, features + 1) of one encoded row."""
        ...


class Candidate(Protocol):
    name: str

    def cross_validate(
        self, d: Design, folds: list[Fold], seconds: float, on_trial: OnTrial
    ) -> CVResult:
        """Out-of-fold margins within ``seconds`` (raises TimeoutError if even one
        configuration cannot be checked in time)."""
        ...

    def fit(self, d: Design, cv: CVResult) -> FittedMember: ...


def score_oof(d: Design, oof: np.ndarray) -> float:
    checked = ~np.isnan(oof).any(axis=1)
    return d.metric.score(d.y[checked], oof[checked], d.target)


# ---- LightGBM --------------------------------------------------------------------------
DEFAULT_TRIAL: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.9,
    "lambda_l2": 1.0,
    "lambda_l1": 0.01,
    "cat_smooth": 10.0,
}


# Below this many rows LightGBM trains on one thread: on small tables thread start-up and
# synchronisation cost more than the split search saves, and on a shared 2-core machine
# two threads per fit oversubscribe (4,000 rows × 40 columns, 474 rounds at load 6:
# 0.33–0.54 s on one thread against 3.5–9.6 s on two).
SMALL_TABLE_ROWS = 50_000


def lgb_base(d: Design) -> dict[str, Any]:
    task, name = d.target.task, d.metric.name
    params: dict[str, Any] = {
        "verbosity": -1,
        "num_threads": 1 if len(d.y) < SMALL_TABLE_ROWS else 2,
        "bagging_freq": 1,
        "max_cat_to_onehot": 8,
        "seed": d.seed,
    }
    if task == "binary":
        params |= {
            "objective": "binary",
            "metric": "auc" if name == "roc_auc" else "binary_logloss",
        }
    elif task == "multiclass":
        params |= {
            "objective": "multiclass",
            "num_class": len(d.target.classes),
            "metric": "multi_logloss",
        }
    else:
        mae = name == "mae"
        params |= {
            "objective": "regression_l1" if mae else "regression",
            "metric": "l1" if mae else "rmse",
        }
    return params


def _stop_at(deadline: float) -> Callable[[Any], None]:
    """A callback ending boosting at ``deadline`` (a trial past the time box keeps the
    rounds it has, as early stopping would)."""

    def callback(env: Any) -> None:
        if env.iteration >= 10 and time.perf_counter() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # type: ignore[attr-defined]  # after early stopping's own check
    return callback


class LightGBMCandidate:
    """LightGBM tuned by Optuna (TPE) over ``lgb.cv``; the first trial is a sound default."""

    name = "lightgbm"

    def __init__(self, max_trials: int = 200, compile_trees: bool = False) -> None:
        self.max_trials = max_trials
        # Native code for large batches costs a C compile (seconds to a minute): opt-in.
        self.compile_trees = compile_trees

    def _cv(
        self, d: Design, folds: list[Fold], params: dict[str, Any], deadline: float
    ) -> tuple[np.ndarray, int]:
        data = lgb.Dataset(
            d.matrix,
            d.y,
            categorical_feature=d.signature.categorical_indices or "auto",
            free_raw_data=False,
        )
        result = lgb.cv(
            {**lgb_base(d), **params},
            data,
            num_boost_round=MAX_ROUNDS,
            folds=folds,
            callbacks=[lgb.early_stopping(100, verbose=False), _stop_at(deadline)],
            return_cvbooster=True,
        )
        cvbooster = cast(lgb.CVBooster, result["cvbooster"])
        rounds = int(cvbooster.best_iteration)
        oof = np.full((len(d.y), d.target.width), np.nan)
        for booster, (_, va) in zip(cvbooster.boosters, folds, strict=True):
            raw = booster.predict(d.matrix[va], raw_score=True, num_iteration=rounds)
            oof[va] = np.asarray(raw).reshape(len(va), -1)
        return oof, rounds

    def cross_validate(
        self, d: Design, folds: list[Fold], seconds: float, on_trial: OnTrial
    ) -> CVResult:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        started = time.perf_counter()
        best: dict[str, Any] = {}
        metric = d.metric

        def objective(trial: optuna.Trial) -> float:
            params = {
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
                "num_leaves": trial.suggest_int("num_leaves", 3, 64, log=True),
                "min_child_samples": trial.suggest_int("min_child_samples", 3, 200, log=True),
                "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
                "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
                "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
                "lambda_l1": trial.suggest_float("lambda_l1", 1e-3, 10.0, log=True),
                "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
            }
            oof, rounds = self._cv(d, folds, params, started + seconds)
            score = score_oof(d, oof)
            if not best or metric.better(score, best["score"]):
                best.update(score=score, oof=oof, params={**params, "num_boost_round": rounds})
            on_trial(self.name, trial.number + 1, best["score"])
            return score

        study = optuna.create_study(
            direction="maximize" if metric.higher_is_better else "minimize",
            sampler=optuna.samplers.TPESampler(seed=d.seed, n_startup_trials=8),
        )
        study.enqueue_trial(DEFAULT_TRIAL)
        study.optimize(objective, n_trials=self.max_trials, timeout=max(seconds, 0.1))
        return CVResult(
            best["oof"],
            best["score"],
            best["params"],
            time.perf_counter() - started,
            trials=len(study.trials),
        )

    def fit(self, d: Design, cv: CVResult) -> LightGBMMember:
        params = dict(cv.params)
        rounds = max(1, int(params.pop("num_boost_round")))
        data = lgb.Dataset(
            d.matrix, d.y, categorical_feature=d.signature.categorical_indices or "auto"
        )
        booster = lgb.train({**lgb_base(d), **params}, data, num_boost_round=rounds)
        compiled = (
            CompiledForest.build(booster) if self.compile_trees and d.target.width == 1 else None
        )
        return LightGBMMember(
            booster, len(d.signature.columns), d.target.width, cv.params, compiled
        )


@dataclass
class LightGBMMember:
    booster: lgb.Booster
    ncol: int
    width: int
    params: dict[str, Any]
    compiled: CompiledForest | None = None
    name: str = "lightgbm"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # native handles: rebuilt lazily after loading
        return state

    @property
    def fast(self) -> FastRowPredictor:
        fast: FastRowPredictor | None = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastRowPredictor(self.booster, self.ncol, self.width)
        return fast

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) >= BATCH_ROWS and self.compiled is not None:
            try:
                return self.compiled.predict_raw(matrix).reshape(-1, 1)
            except Exception:  # a library this machine cannot load: use the booster
                self.compiled = None
        threads = 1 if len(matrix) < BATCH_ROWS else 0
        raw = self.booster.predict(matrix, raw_score=True, num_threads=threads)
        return np.asarray(raw).reshape(len(matrix), self.width)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        threads = 1 if len(matrix) < BATCH_ROWS else 0
        contrib = np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=threads))
        return contrib.reshape(len(matrix), self.width, self.ncol + 1)

    def margin_one(self, row: np.ndarray) -> np.ndarray:
        return self.fast.raw_all(row)

    def contributions_one(self, row: np.ndarray) -> np.ndarray:
        return self.fast.contributions(row).reshape(self.width, self.ncol + 1)
