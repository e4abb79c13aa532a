"""The tabular benchmark's data loading, splits, metrics and report (no learner is fitted)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import tabular_report
from benchmarks.tabular_data import DATASETS, DatasetSpec, load, prepare, split
from benchmarks.tabular_metrics import (
    Predictions,
    at_least_as_good,
    binary_scores,
    expected_calibration_error,
    multiclass_scores,
    paired_advantage,
    regression_scores,
    score,
    single_row_latency,
)
from foresight.platform.errors import InvalidInput


def make_frame(n: int, *, seed: int = 0, classes: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "blue", None], size=n),
            "label": rng.choice(classes, size=n, p=[0.8, 0.2] if len(classes) == 2 else None),
            "amount": rng.exponential(10.0, size=n),
        }
    )


# ---------------------------------------------------------------------------- data


def test_prepare_drops_rownames_and_unlabeled_rows() -> None:
    frame = make_frame(50)
    frame.loc[[3, 7], "label"] = None
    data = prepare(frame, DatasetSpec("toy", "label", "binary", positive="b"))
    assert data.dropped_columns == ("rownames",)
    assert data.dropped_rows == 2
    assert len(data.frame) == 48 and "rownames" not in data.frame


def test_prepare_names_a_missing_target() -> None:
    with pytest.raises(KeyError, match="no target column"):
        prepare(make_frame(10), DatasetSpec("toy", "nope", "binary"))


def test_split_is_80_20_stratified_and_seeded() -> None:
    spec = DatasetSpec("toy", "label", "binary", positive="b")
    data = prepare(make_frame(1000), spec)
    parts = split(data, seed=42)
    assert (len(parts.train), len(parts.test), len(parts.validation)) == (800, 200, 0)
    share = data.frame["label"].eq("b").mean()
    for frame in (parts.train, parts.test):
        assert frame["label"].eq("b").mean() == pytest.approx(share, abs=0.005)
    assert parts.test.equals(split(data, seed=42).test)
    assert not parts.test.equals(split(data, seed=7).test)
    assert list(parts.parts()) == ["test"]


def test_three_way_split_is_60_20_20_stratified_by_quartile() -> None:
    spec = DatasetSpec("toy", "amount", "regression", validation=0.2, test=0.2)
    data = prepare(make_frame(1000), spec)
    parts = split(data, seed=42)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (600, 200, 200)
    assert list(parts.parts()) == ["validation", "test"]
    quartiles = data.frame["amount"].quantile([0.25, 0.5, 0.75]).to_numpy()
    for frame in (parts.train, parts.validation, parts.test):
        counts = np.bincount(np.searchsorted(quartiles, frame["amount"]), minlength=4)
        assert counts.max() - counts.min() <= 2  # each quartile equally represented
    together = pd.concat([parts.train, parts.validation, parts.test])
    assert len(together.drop_duplicates()) == 1000  # disjoint and complete


def test_a_real_data_set_loads_with_the_documented_target() -> None:
    data = load("penguins")
    assert data.spec is DATASETS["penguins"]
    assert set(data.frame["species"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert "rownames" not in data.frame and data.dropped_rows == 0


# ---------------------------------------------------------------------------- metrics


def test_ece_on_known_inputs() -> None:
    # Bin [0.2, 0.267): p = 0.25 twice, one event -> |0.5 - 0.25| over half the rows;
    # bin [0.933, 1]: p = 1.0 twice, two events -> 0.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.25, 0.25, 1.0, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx(0.125)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    # One bin holding everything: |event rate - mean p|.
    assert expected_calibration_error(y, np.full(4, 0.5), bins=1) == pytest.approx(0.25)


def test_binary_scores_use_the_positive_class_column() -> None:
    y = np.array(["no", "yes", "yes", "no"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])  # columns: no, yes
    scores = binary_scores(y, proba, ["no", "yes"], "yes")
    assert scores["roc_auc"] == 1.0
    expected = -np.mean(np.log([0.9, 0.8, 0.6, 0.7]))
    assert scores["log_loss"] == pytest.approx(expected)
    flipped = binary_scores(y, proba[:, ::-1], ["yes", "no"], "yes")
    assert flipped == pytest.approx(scores)


def test_multiclass_scores() -> None:
    y = np.array(["a", "b", "c", "c"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.0, 0.0, 1.0]])
    scores = multiclass_scores(y, proba, ["a", "b", "c"])
    assert scores["accuracy"] == 0.75
    assert scores["macro_f1"] == pytest.approx(np.mean([2 / 3, 1.0, 2 / 3]))
    assert np.isfinite(scores["log_loss"])  # a zero probability is clipped, not infinite


def test_regression_scores_and_interval_coverage() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    scores = regression_scores(
        y, np.array([1.0, 2.0, 3.0, 6.0]), lower=y - 1, upper=np.array([2, 3, 4, 4.5])
    )
    assert scores["mae"] == 0.5 and scores["rmse"] == 1.0
    assert scores["coverage"] == 1.0 and scores["interval_width"] == pytest.approx(1.875)
    assert "coverage" not in regression_scores(y, y)


def test_score_takes_one_part_of_the_stacked_predictions() -> None:
    preds = Predictions(point=np.array([0.0, 0.0, 5.0, 5.0]))
    assert score("regression", np.array([5.0, 5.0]), preds.take(slice(2, 4)), classes=[]) == {
        "rmse": 0.0,
        "mae": 0.0,
    }
    with pytest.raises(ValueError, match="probabilities"):
        score("binary", np.array(["a"]), preds, classes=["a", "b"], positive="a")


def test_at_least_as_good_knows_each_metric_direction() -> None:
    assert at_least_as_good("roc_auc", 0.9, 0.8) and not at_least_as_good("roc_auc", 0.8, 0.9)
    assert at_least_as_good("rmse", 1.0, 2.0) and not at_least_as_good("log_loss", 0.5, 0.4)


class RecordingModel:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def predict_record(self, record: dict, explain: bool = False) -> dict:
        assert explain
        self.records.append(record)
        return {"prediction": 0.0}


def test_single_row_latency_times_300_json_like_calls_after_a_warm_up() -> None:
    model = RecordingModel()
    rows = pd.DataFrame({"x": [1.5, np.nan], "colour": ["red", None]})
    timing = single_row_latency(model, rows)
    assert len(model.records) == 2 + 330  # each row checked once, then warm-up and timing
    assert model.records[1] == {"x": None, "colour": None}  # NaN travels as JSON null
    assert 0 < timing["p50"] <= timing["p99"] and timing["refused_rows"] == 0


def test_single_row_latency_skips_records_the_signature_refuses() -> None:
    class Picky(RecordingModel):
        def predict_record(self, record: dict, explain: bool = False) -> dict:
            if record["colour"] == "mauve":
                raise InvalidInput("1 field(s) are invalid")
            return super().predict_record(record, explain=explain)

    model = Picky()
    timing = single_row_latency(model, pd.DataFrame({"x": [1.0, 2.0], "colour": ["mauve", "red"]}))
    assert timing["refused_rows"] == 1
    assert all(r["colour"] == "red" for r in model.records)


def test_paired_advantage_is_signed_by_the_metric_and_brackets_the_difference() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good = Predictions(point=y + rng.normal(0, 0.1, 400))
    bad = Predictions(point=y + rng.normal(0, 1.0, 400))
    won = paired_advantage("regression", "rmse", y, good, bad, classes=[])
    assert won["delta"] > 0 and won["lo"] > 0  # lower RMSE is an advantage
    same = paired_advantage("regression", "rmse", y, good, good, classes=[])
    assert same == {"delta": 0.0, "lo": 0.0, "hi": 0.0}


# ---------------------------------------------------------------------------- report


def test_report_renders_errors_skips_and_wins() -> None:
    ok = {"status": "ok", "fit_seconds": 1.0}
    results = {
        "toy": {
            "task": "binary",
            "primary": "roc_auc",
            "sizes": {"train": 80, "test": 20},
            "methods": {
                "foresight": {**ok, "scores": {"test": {"roc_auc": 0.9, "log_loss": 0.3}}},
                "lightgbm": {**ok, "scores": {"test": {"roc_auc": 0.95, "log_loss": 0.2}}},
                "catboost": {"status": "error", "error": "ValueError: boom"},
                "autogluon": {"status": "skipped", "reason": "not run (--no-autogluon)"},
            },
        }
    }
    meta = {"date": "today", "machine": "here", "command": "cmd", "budget": 5.0, "seed": 42}
    text = tabular_report.render(results, meta)
    assert "AutoGluon medium_quality: not run (--no-autogluon)" in text
    assert "error: ValueError: boom" in text
    wins = text.split("### Wins")[1]
    row = "| toy | roc_auc | 0.9000 | learner, LightGBM only 0.9500 | **no** | **no** | — |"
    assert row in wins


def test_a_loss_inside_the_paired_interval_is_reported_as_noise() -> None:
    ok = {"status": "ok", "fit_seconds": 1.0}
    facts = {
        "task": "binary",
        "primary": "roc_auc",
        "sizes": {"train": 80, "test": 20},
        "methods": {
            "foresight": {**ok, "scores": {"test": {"roc_auc": 0.90, "log_loss": 0.3}}},
            "lightgbm": {**ok, "scores": {"test": {"roc_auc": 0.91, "log_loss": 0.3}}},
            "linear": {**ok, "scores": {"test": {"roc_auc": 0.95, "log_loss": 0.2}}},
        },
        "versus": {
            "lightgbm": {"delta": -0.01, "lo": -0.03, "hi": 0.01},
            "linear": {"delta": -0.05, "lo": -0.08, "hi": -0.02},
        },
    }
    meta = {"date": "today", "machine": "here", "command": "cmd", "budget": 5.0, "seed": 42}
    wins = tabular_report.render({"toy": facts}, meta).split("### Wins")[1]
    assert "**no** -0.0500 [-0.0800, -0.0200]" in wins  # best single: a real loss
    assert "no, within noise -0.0100 [-0.0300, +0.0100]" in wins  # tuned LightGBM
