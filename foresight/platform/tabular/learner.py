"""The tabular learner: any table and a target in, a calibrated, explained blend out.

``fit_table`` checks the table (:mod:`.prepare`), holds out rows it never fits on,
cross-validates every candidate within one shared time box (the linear model and
CatBoost first, with a cap each; LightGBM's Optuna search gets the rest), selects a
blend on the out-of-fold margins (:mod:`.blend`), calibrates it out of fold, refits the
members on every training row, leaves out of the serving blend any member too slow for
the single-row budget (and says so), and scores everything on the held-out rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import structlog

from foresight.platform.errors import InvalidInput
from foresight.platform.tabular import blend
from foresight.platform.tabular.catboost_member import CatBoostCandidate
from foresight.platform.tabular.linear import LinearCandidate
from foresight.platform.tabular.members import (
    Candidate,
    CVResult,
    Design,
    FittedMember,
    LightGBMCandidate,
)
from foresight.platform.tabular.predictor import TabularModel
from foresight.platform.tabular.prepare import FrameTransform, prepare
from foresight.platform.tabular.signature import Signature
from foresight.platform.tabular.splits import Plan, holdout, make_folds
from foresight.platform.tabular.tasks import Task, all_metrics, metric_for

log = structlog.get_logger(__name__)

Progress = Callable[[str, float, str], None]  # (step, fraction of the whole fit, message)
DEFAULT_MEMBERS = ("linear", "catboost", "lightgbm")
CANDIDATES: dict[str, Callable[[], Candidate]] = {
    "linear": LinearCandidate,
    "catboost": CatBoostCandidate,
    "lightgbm": LightGBMCandidate,
}
# Share of the time box each candidate may use at most (LightGBM takes what is left).
CAPS = {"linear": 0.15, "catboost": 0.4}
RESERVE = 0.2  # of the box, kept for refits, calibration and the held-out scores
LATENCY_ROWS = 30  # rows timed per member for the single-row budget


@dataclass
class LearnerOptions:
    target: str
    task: Task | None = None
    metric: str | None = None
    time_column: str | None = None
    group: str | None = None
    drop: tuple[str, ...] = ()
    time_budget: float = 60.0
    folds: int = 5
    holdout: float = 0.2
    seed: int = 42
    members: tuple[str, ...] | None = None
    # One row's predict + explain, per member, in µs; a slower member is not served
    # (an app with a latency budget sets it; None serves whatever wins out of fold).
    row_budget_us: float | None = None
    # Whether the budget covers the explanation too (False: an app that serves only the
    # prediction is timed on the prediction alone).
    row_budget_explain: bool = True
    # Compile LightGBM's trees to native code for large batches (a C compile per fit).
    compile_trees: bool = False
    max_trials: int = 200  # configurations per candidate at most (the time box ends first)


@dataclass
class LearnedTable:
    model: TabularModel
    leaderboard: list[dict[str, Any]]
    metrics: dict[str, Any]
    notes: list[str]
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def fit_table(
    frame: pd.DataFrame, opts: LearnerOptions, progress: Progress | None = None
) -> LearnedTable:
    """Fit the learner on ``frame`` (features and the target column ``opts.target``)."""
    started = time.perf_counter()
    say = progress or (lambda step, fraction, message: None)
    _check_members(opts)
    say("prepare", 0.0, "checking the table")
    prep = prepare(
        frame,
        opts.target,
        task=opts.task,
        time_column=opts.time_column,
        group=opts.group,
        drop=opts.drop,
    )
    target, metric = prep.target, metric_for(prep.target.task, opts.metric)
    train, held = holdout(
        target.task, prep.y, opts.holdout, seed=opts.seed, groups=prep.groups, order=prep.order
    )
    if len(train) < 20:
        raise InvalidInput(f"{len(train)} training rows are too few; at least 20 are needed")
    signature = Signature.infer(prep.features.iloc[train])
    for name, why in signature.dropped.items():
        prep.notes.append(f"{name}: dropped, {why}")
    if not signature.columns:
        raise InvalidInput("no usable feature columns: " + "; ".join(prep.notes))
    matrix, _ = signature.encode_frame(prep.features)  # unknown held-out categories: NaN
    d = Design(matrix[train], prep.y[train], signature, target, metric, opts.seed)
    plan = make_folds(
        target.task,
        d.y,
        k=opts.folds,
        seed=opts.seed,
        groups=None if prep.groups is None else prep.groups[train],
        order=None if prep.order is None else prep.order[train],
    )
    learned = learn(d, plan, opts, say, started=started)
    model, board, metrics = learned.model, learned.leaderboard, learned.metrics
    model.transform = prep.transform
    say("evaluate", _done(started, opts), "scoring the held-out rows")
    if len(held):
        held_matrix, held_y = matrix[held], prep.y[held]
        metrics["holdout"] = _metrics(model, model.margin(held_matrix), held_y)
        for entry in board:
            member = learned.fitted.get(entry["member"])
            if member is not None:
                entry["holdout_score"] = round(
                    metric.score(held_y, member.margin(held_matrix), target), 6
                )
    seconds = time.perf_counter() - started
    rows = {
        "training": len(train),
        "holdout": len(held),
        "checked_out_of_fold": int(plan.checked.sum()),
    }
    model.card |= {"notes": prep.notes, "rows": rows, "seconds": round(seconds, 1)}
    say("done", 1.0, f"done in {seconds:.0f} s")
    return LearnedTable(model, board, metrics, prep.notes, seconds, rows)


@dataclass
class Learned:
    """What :func:`learn` returns: the served blend and every fitted member."""

    model: TabularModel
    fitted: dict[str, FittedMember]
    leaderboard: list[dict[str, Any]]
    metrics: dict[str, Any]


def learn(
    d: Design,
    plan: Plan,
    opts: LearnerOptions,
    progress: Progress | None = None,
    *,
    started: float | None = None,
) -> Learned:
    """The learner on rows already encoded by a signature (an app that validated and
    split its own table calls this): cross-validate the candidates, blend, calibrate,
    refit. The model's transform is the identity; ``fit_table`` sets its own."""
    started = time.perf_counter() if started is None else started
    say = progress or (lambda step, fraction, message: None)
    _check_members(opts)
    target, metric = d.target, d.metric
    checked = plan.checked
    deadline = started + opts.time_budget * (1 - RESERVE)
    board: dict[str, dict[str, Any]] = {}
    results: dict[str, CVResult] = {}
    ordered = [n for n in CANDIDATES if n in (opts.members or DEFAULT_MEMBERS)]
    for i, name in enumerate(ordered):
        left = deadline - time.perf_counter()
        share = left if name not in CAPS else min(left, CAPS[name] * opts.time_budget)
        if i < len(ordered) - 1 and name not in CAPS:
            share = left / (len(ordered) - i)
        say(name, _done(started, opts), f"{name}: cross-validating ({share:.0f} s)")

        def on_trial(member: str, trials: int, best: float) -> None:
            say(member, _done(started, opts), f"{member}: {trials} trial(s), best {best:.4f}")

        entry: dict[str, Any] = {"member": name, "served": False}
        board[name] = entry
        try:
            candidate = _candidate(name, opts)
            cv = candidate.cross_validate(d, plan.folds, max(share, 1.0), on_trial)
        except TimeoutError as exc:
            entry["reason"] = f"left out: {exc}"
            continue
        except Exception as exc:  # one candidate failing must not fail the fit
            log.warning("tabular_member_failed", member=name, error=str(exc))
            entry["reason"] = f"failed: {type(exc).__name__}: {exc}"
            continue
        results[name] = cv
        entry |= {
            "oof_score": round(cv.score, 6),
            "cv_seconds": round(cv.seconds, 2),
            "trials": cv.trials,
            "params": cv.params,
        }
    if not results:
        raise InvalidInput(
            "no candidate could be fitted: "
            + "; ".join(f"{n}: {e.get('reason')}" for n, e in board.items())
        )
    say("blend", _done(started, opts), "selecting the blend out of fold")
    oof = {n: r.oof[checked] for n, r in results.items()}
    fitted: dict[str, FittedMember] = {}
    for name, cv in results.items():
        say("fit", _done(started, opts), f"refitting {name} on every training row")
        t0 = time.perf_counter()
        fitted[name] = _candidate(name, opts).fit(d, cv)
        board[name]["fit_seconds"] = round(time.perf_counter() - t0, 2)
        board[name]["row_us"] = round(
            _row_us(fitted[name], d.matrix, explain=opts.row_budget_explain), 1
        )
    budget = float("inf") if opts.row_budget_us is None else opts.row_budget_us
    fast = {n for n in fitted if board[n]["row_us"] <= budget}
    timed = "predict and explain" if opts.row_budget_explain else "predict"
    for n in set(fitted) - fast:
        board[n]["reason"] = (
            f"not served: one row takes {board[n]['row_us']:.0f} µs to {timed}, "
            f"over the {budget:.0f} µs budget"
        )
    servable = {n: oof[n] for n in fast} or oof  # if none is fast enough, serve anyway
    y_checked = d.y[checked]
    weights = blend.select(servable, y_checked, metric, target)
    unconstrained = (
        blend.select(oof, y_checked, metric, target) if len(servable) < len(oof) else weights
    )
    blended = blend.combine(oof, weights)
    calibration = blend.calibrate(blended, y_checked, target, opts.seed)
    model = TabularModel(
        target,
        d.signature,
        FrameTransform(),
        {n: fitted[n] for n in weights},
        weights,
        calibration,
        metric.name,
    )
    metrics: dict[str, Any] = {
        "task": target.task,
        "metric": metric.name,
        "folds": plan.kind,
        "cv": _metrics(model, blended, y_checked),
        "cv_all_members_blend": round(
            metric.score(y_checked, blend.combine(oof, unconstrained), target), 6
        ),
    }
    for name, entry in board.items():
        entry["weight"] = round(weights.get(name, 0.0), 4)
        entry["served"] = name in weights
    leaderboard = sorted(
        board.values(),
        key=lambda e: metric.loss(e["oof_score"]) if "oof_score" in e else float("inf"),
    )
    model.card = {
        "leaderboard": leaderboard,
        "metrics": metrics,
        "calibration": {"kind": calibration.kind, **calibration.report},
        "importance": _importance(model, d.matrix),
    }
    return Learned(model, fitted, leaderboard, metrics)


def _check_members(opts: LearnerOptions) -> None:
    unknown = [n for n in opts.members or () if n not in CANDIDATES]
    if unknown:
        raise InvalidInput(
            f"unknown member(s) {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}"
        )


def _candidate(name: str, opts: LearnerOptions) -> Candidate:
    if name == "lightgbm":
        return LightGBMCandidate(max_trials=opts.max_trials, compile_trees=opts.compile_trees)
    if name == "linear":
        return LinearCandidate(max_trials=opts.max_trials)
    return CANDIDATES[name]()


def _done(started: float, opts: LearnerOptions) -> float:
    return min(0.99, (time.perf_counter() - started) / max(opts.time_budget, 1e-9))


def _metrics(model: TabularModel, margin: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Every metric of the task on calibrated answers (intervals: their coverage)."""
    target, cal = model.target, model.calibration
    if target.task == "binary":
        p = np.clip(cal.probability(margin[:, 0]), 1e-7, 1 - 1e-7)
        out = all_metrics(y, np.log(p / (1 - p)).reshape(-1, 1), target)
    elif target.task == "multiclass":
        out = all_metrics(y, cal.a * margin, target)
    else:
        out = all_metrics(y, margin, target)
        out["interval_coverage"] = float((np.abs(y - margin[:, 0]) <= cal.half_width).mean())
        out["interval_level"] = cal.level
    return {k: round(float(v), 6) for k, v in out.items()}


def _row_us(member: FittedMember, matrix: np.ndarray, *, explain: bool = True) -> float:
    """µs for one row's contributions (which give its margin too), or its margin alone
    without ``explain``: the lowest of three passes' medians, so that a busy machine does
    not decide which members are served."""
    rows = matrix[: min(LATENCY_ROWS, len(matrix))]
    one = member.contributions_one if explain else member.margin_one
    one(rows[0])  # warm-up: prepared configs, lazy imports
    medians = []
    for _ in range(3):
        times = []
        for row in rows:
            t0 = time.perf_counter()
            one(row)
            times.append(time.perf_counter() - t0)
        medians.append(float(np.median(times)))
    return min(medians) * 1e6


def _importance(model: TabularModel, matrix: np.ndarray) -> list[dict[str, Any]]:
    """Mean |contribution| per feature over up to 2,000 training rows, largest first."""
    sample = matrix[: min(2000, len(matrix))]
    contrib = np.abs(model.contributions(sample)[:, :, :-1]).mean(axis=(0, 1))
    total = float(contrib.sum()) or 1.0
    order = np.argsort(-contrib)
    return [
        {
            "feature": model.signature.columns[i].name,
            "importance": round(float(contrib[i] / total), 4),
        }
        for i in order
    ]
