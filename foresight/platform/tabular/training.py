"""Fit, tune and evaluate the tabular classifiers (pure: arrays in, models out)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import optuna
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from foresight.platform.tabular.compiled import CompiledForest
from foresight.platform.tabular.models import BinaryModel, LightGBMModel, LogisticModel
from foresight.platform.tabular.signature import Signature

TrialCallback = Callable[[int, float, float], None]  # (trial number, best so far, seconds used)


@dataclass
class Split:
    train: np.ndarray
    holdout: np.ndarray


def holdout_split(y: np.ndarray, *, fraction: float = 0.2, seed: int = 42) -> Split:
    """A stratified held-out split; the holdout is never seen by tuning or fitting."""
    idx = np.arange(len(y))
    train, holdout = train_test_split(idx, test_size=fraction, stratify=y, random_state=seed)
    return Split(train=np.sort(train), holdout=np.sort(holdout))


def folds(y: np.ndarray, *, k: int = 5, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    k = max(2, min(k, int(np.bincount(y.astype(int)).min())))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(y, y))


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss and accuracy at 0.5."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p)),
        "accuracy": float(((p >= 0.5) == y).mean()),
        "positive_rate": float(y.mean()),
    }


# ---- logistic regression ---------------------------------------------------------------
def _design(sig: Signature, matrix: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    num_idx = [i for i, c in enumerate(sig.columns) if c.kind == "numeric"]
    parts = []
    if num_idx:
        values = matrix[:, num_idx]
        parts.append((np.where(np.isnan(values), mean, values) - mean) / scale)
    for idx in sig.categorical_indices:
        n_cat = len(sig.columns[idx].categories)
        onehot = np.zeros((len(matrix), n_cat))
        codes = matrix[:, idx]
        known = ~np.isnan(codes)
        onehot[np.flatnonzero(known), codes[known].astype(int)] = 1.0
        parts.append(onehot)
    return np.hstack(parts) if parts else np.zeros((len(matrix), 0))


def fit_logistic(
    sig: Signature, matrix: np.ndarray, y: np.ndarray, *, c: float = 1.0
) -> LogisticModel:
    num_idx = [i for i, col in enumerate(sig.columns) if col.kind == "numeric"]
    values = matrix[:, num_idx]
    mean = np.nanmean(values, axis=0) if num_idx else np.zeros(0)
    scale = np.nanstd(values, axis=0) if num_idx else np.ones(0)
    scale = np.where(scale > 0, scale, 1.0)
    design = _design(sig, matrix, mean, scale)
    lr = LogisticRegression(C=c, max_iter=2000)
    lr.fit(design, y)
    coef = lr.coef_[0]
    numeric_weights = coef[: len(num_idx)]
    offset = len(num_idx)
    weights: dict[int, np.ndarray] = {}
    freq: dict[int, np.ndarray] = {}
    for idx in sig.categorical_indices:
        n_cat = len(sig.columns[idx].categories)
        weights[idx] = coef[offset : offset + n_cat]
        offset += n_cat
        codes = matrix[:, idx]
        counts = np.bincount(codes[~np.isnan(codes)].astype(int), minlength=n_cat)
        freq[idx] = counts / max(1, len(codes))
    return LogisticModel(
        signature=sig,
        mean=mean,
        scale=scale,
        numeric_weights=numeric_weights,
        category_weights=weights,
        category_freq=freq,
        bias=float(lr.intercept_[0]),
        params={"C": c},
    )


def cv_logistic(
    sig: Signature, matrix: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, dict[str, float]]:
    """Cross-validated ROC-AUC of the logistic baseline over a small grid of C."""
    best_auc, best_c = -1.0, 1.0
    for c in (0.03, 0.1, 0.3, 1.0, 3.0):
        aucs = []
        for tr, va in splits:
            model = fit_logistic(sig, matrix[tr], y[tr], c=c)
            aucs.append(roc_auc_score(y[va], model.predict_proba(matrix[va])))
        if np.mean(aucs) > best_auc:
            best_auc, best_c = float(np.mean(aucs)), c
    return best_auc, {"C": best_c}


# ---- LightGBM ------------------------------------------------------------------------
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "verbosity": -1,
    "num_threads": 2,
    "bagging_freq": 1,
    "max_cat_to_onehot": 8,
}
DEFAULT_TRIAL: dict[str, Any] = {
    "learning_rate": 0.03,
    "num_leaves": 8,
    "min_child_samples": 40,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "lambda_l2": 1.0,
    "lambda_l1": 0.01,
    "cat_smooth": 10.0,
}


def _lgb_cv(
    sig: Signature,
    matrix: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    params: dict[str, Any],
    seed: int,
) -> tuple[float, int, np.ndarray]:
    """Mean fold ROC-AUC, the best round count and out-of-fold raw scores."""
    data = lgb.Dataset(
        matrix, y, categorical_feature=sig.categorical_indices or "auto", free_raw_data=False
    )
    result = lgb.cv(
        {**BASE_PARAMS, **params, "seed": seed},
        data,
        num_boost_round=3000,
        folds=splits,
        callbacks=[lgb.early_stopping(100, verbose=False)],
        return_cvbooster=True,
    )
    aucs = cast(list[float], result["valid auc-mean"])
    cvbooster = cast(lgb.CVBooster, result["cvbooster"])
    auc = float(aucs[-1])
    rounds = int(cvbooster.best_iteration)
    oof = np.zeros(len(y))
    for booster, (_, va) in zip(cvbooster.boosters, splits, strict=True):
        oof[va] = booster.predict(matrix[va], raw_score=True, num_iteration=rounds)
    return auc, rounds, oof


@dataclass
class TunedLightGBM:
    params: dict[str, Any]
    cv_auc: float
    rounds: int
    oof_raw: np.ndarray
    trials: int


def tune_lightgbm(
    sig: Signature,
    matrix: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    seconds: float,
    max_trials: int,
    seed: int,
    on_trial: TrialCallback | None = None,
) -> TunedLightGBM:
    """Optuna TPE search, time-boxed; the first trial is a sound default so a short box is safe."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    best: dict[str, Any] = {}

    def objective(trial: optuna.Trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.15, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 3, 48, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-3, 10.0, log=True),
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
        }
        auc, rounds, oof = _lgb_cv(sig, matrix, y, splits, params, seed)
        if not best or auc > best["auc"]:
            best.update(auc=auc, rounds=rounds, oof=oof, params=params)
        if on_trial:
            on_trial(trial.number, best["auc"], time.perf_counter() - started)
        return auc

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    )
    study.enqueue_trial(DEFAULT_TRIAL)
    study.optimize(objective, n_trials=max_trials, timeout=seconds)
    return TunedLightGBM(
        params=best["params"],
        cv_auc=best["auc"],
        rounds=best["rounds"],
        oof_raw=best["oof"],
        trials=len(study.trials),
    )


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_lightgbm(
    sig: Signature,
    matrix: np.ndarray,
    y: np.ndarray,
    tuned: TunedLightGBM,
    *,
    seed: int,
    compile_trees: bool = True,
) -> LightGBMModel:
    """Refit on all training rows with the tuned params; calibrate on out-of-fold scores."""
    data = lgb.Dataset(matrix, y, categorical_feature=sig.categorical_indices or "auto")
    params = {**BASE_PARAMS, **tuned.params, "seed": seed}
    booster = lgb.train(params, data, num_boost_round=max(1, tuned.rounds))
    a, b = _platt(tuned.oof_raw, y)
    return LightGBMModel(
        signature=sig,
        booster=booster,
        compiled=CompiledForest.build(booster) if compile_trees else None,
        calib_a=a,
        calib_b=b,
        params={**tuned.params, "num_boost_round": tuned.rounds},
    )


def evaluate(model: BinaryModel, matrix: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return binary_metrics(y, model.predict_proba(matrix))
