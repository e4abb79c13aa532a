"""Each blend member: exact additive contributions, a single-row path equal to the
batch path, compiled trees equal to the booster, and ensemble selection that keeps a
blend only when it wins out of fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.platform.tabular import blend
from foresight.platform.tabular.catboost_member import CatBoostCandidate
from foresight.platform.tabular.linear import LinearCandidate
from foresight.platform.tabular.members import Design, LightGBMCandidate
from foresight.platform.tabular.signature import Signature
from foresight.platform.tabular.splits import make_folds
from foresight.platform.tabular.tasks import METRICS, Target


def design(task: str, n: int = 600, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.uniform(0, 5, n)),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    signal = frame["x"] * 2 + np.nan_to_num(frame["z"]) - (frame["colour"] == "red") * 1.5
    if task == "regression":
        y, target = (signal + rng.normal(size=n)).to_numpy(), Target("regression", [])
    elif task == "binary":
        y = (signal + rng.logistic(size=n) > 1.5).to_numpy().astype(np.int64)
        target = Target("binary", ["0", "1"])
    else:
        y = np.digitize(signal + rng.normal(size=n), [0.5, 2.5]).astype(np.int64)
        target = Target("multiclass", ["a", "b", "c"])
    sig = Signature.infer(frame)
    matrix, _ = sig.encode_frame(frame)
    metric = METRICS["log_loss" if task != "regression" else "rmse"]
    return Design(matrix, y, sig, target, metric, seed=0)


CANDIDATES = [LinearCandidate, LightGBMCandidate, CatBoostCandidate]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("make", CANDIDATES, ids=lambda c: c.name)
def test_contributions_add_up_and_one_row_answers_as_the_batch(make, task: str) -> None:
    d = design(task)
    plan = make_folds(d.target.task, d.y, k=3)
    candidate = make() if make is not LightGBMCandidate else LightGBMCandidate(max_trials=1)
    cv = candidate.cross_validate(d, plan.folds, 60.0, lambda *_: None)
    assert cv.oof.shape == (len(d.y), d.target.width) and not np.isnan(cv.oof).any()
    member = candidate.fit(d, cv)
    rows = d.matrix[:25]
    margin, contrib = member.margin(rows), member.contributions(rows)
    assert contrib.shape == (25, d.target.width, len(d.signature.columns) + 1)
    np.testing.assert_allclose(contrib.sum(axis=2), margin, rtol=1e-6, atol=1e-6)
    for i in range(5):
        np.testing.assert_allclose(member.margin_one(rows[i]), margin[i], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(member.contributions_one(rows[i]), contrib[i], atol=1e-9)


def test_compiled_trees_score_a_batch_as_the_booster() -> None:
    d = design("binary", n=3000)
    plan = make_folds("binary", d.y, k=3)
    candidate = LightGBMCandidate(max_trials=1, compile_trees=True)
    member = candidate.fit(d, candidate.cross_validate(d, plan.folds, 30.0, lambda *_: None))
    if member.compiled is None:
        pytest.skip("no C compiler on this machine")
    raw = member.booster.predict(d.matrix, raw_score=True).reshape(-1, 1)
    np.testing.assert_allclose(member.margin(d.matrix), raw, rtol=1e-6, atol=1e-6)


def test_the_linear_member_extrapolates_a_trend_but_not_without_bound() -> None:
    n = 400
    x = np.linspace(0, 10, n)
    frame = pd.DataFrame({"x": x})
    sig = Signature.infer(frame)
    matrix, _ = sig.encode_frame(frame)
    d = Design(matrix, 3 * x, sig, Target("regression", []), METRICS["rmse"])
    candidate = LinearCandidate()
    member = candidate.fit(
        d, candidate.cross_validate(d, make_folds("regression", d.y, k=3).folds, 5, lambda *_: None)
    )
    assert member.margin(np.array([[15.0]]))[0, 0] == pytest.approx(45, rel=0.02)
    # Beyond the training range widened by its own width, a typo stays a finite answer.
    assert member.margin(np.array([[1e9]]))[0, 0] == pytest.approx(60, rel=0.02)


def test_a_mostly_missing_column_bends_where_its_present_values_do() -> None:
    # An hour that applies to one weekday in seven (missing on the others): its spline
    # must have knots across the present hours, not all at the fill value, to follow a
    # curve the linear member could not otherwise fit.
    rng = np.random.default_rng(3)
    n = 2100
    hour = rng.uniform(11, 23, n)
    present = rng.uniform(size=n) < 1 / 7
    frame = pd.DataFrame({"hour_mon": np.where(present, hour, np.nan)})
    curve = 3 * np.sin((hour - 11) / 12 * 2 * np.pi)  # lunch and dinner rushes
    y = np.where(present, curve, 0.0) + rng.normal(scale=0.1, size=n)
    sig = Signature.infer(frame)
    matrix, _ = sig.encode_frame(frame)
    d = Design(matrix, y, sig, Target("regression", []), METRICS["rmse"])
    candidate = LinearCandidate()
    folds = make_folds("regression", d.y, k=3).folds
    member = candidate.fit(d, candidate.cross_validate(d, folds, 5, lambda *_: None))
    grid = np.array([[12.0], [14.0], [17.0], [20.0], [22.0]])
    want = 3 * np.sin((grid[:, 0] - 11) / 12 * 2 * np.pi)
    np.testing.assert_allclose(member.margin(grid)[:, 0], want, atol=0.6)


def test_selection_keeps_a_blend_only_when_it_wins_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    target, rmse = Target("regression", []), METRICS["rmse"]
    good = (y + rng.normal(0, 0.5, 2000)).reshape(-1, 1)
    other = (y + rng.normal(0, 0.5, 2000)).reshape(-1, 1)  # independent errors: averaging helps
    noise = rng.normal(size=(2000, 1))
    assert blend.select({"good": good, "noise": noise}, y, rmse, target) == {"good": 1.0}
    weights = blend.select({"good": good, "other": other, "noise": noise}, y, rmse, target)
    assert set(weights) == {"good", "other"} and abs(weights["good"] - 0.5) <= 0.15


def test_calibration_is_chosen_out_of_fold_and_fixes_overconfident_margins() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(0, 1.5, 5000)
    y = (rng.uniform(size=5000) < 1 / (1 + np.exp(-true_logit))).astype(np.int64)
    margin = (3 * true_logit).reshape(-1, 1)  # three times too sure of itself
    cal = blend.calibrate(margin, y, Target("binary", ["0", "1"]))
    assert cal.kind in {"platt", "isotonic"}
    p = cal.probability(margin[:, 0])
    truth = 1 / (1 + np.exp(-true_logit))
    assert np.abs(p - truth).mean() < 0.05


def test_isotonic_calibration_keeps_the_ranking_of_the_margins() -> None:
    # A step function would tie rows inside each step and lose ROC-AUC; the calibrated
    # probabilities must rank rows exactly as the margins do.
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    true_logit = rng.normal(-2.5, 1.0, 3000)  # imbalanced, as a default or churn table is
    y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-true_logit))).astype(np.int64)
    margin = np.tanh(true_logit) * 4  # monotone but badly shaped: isotonic's case
    cal = blend._fit_binary("isotonic", margin, y)
    p = cal.probability(margin)
    assert roc_auc_score(y, p) == pytest.approx(roc_auc_score(y, margin), abs=1e-12)
    assert np.all(np.diff(p[np.argsort(margin)]) >= 0)
    assert p.min() > 0 and p.max() < 1
    truth = 1 / (1 + np.exp(-true_logit))
    assert np.abs(p - truth).mean() < 0.03
