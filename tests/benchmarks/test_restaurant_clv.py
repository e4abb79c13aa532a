"""The CDNOW CLV benchmark: runs end to end on the real (small) data and reports sensibly."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lifetimes") is None, reason="CDNOW ships with lifetimes (dev)"
)


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    from benchmarks.restaurant_clv import run_cdnow

    return run_cdnow(cross_check=False)


def test_result_is_json_able_and_the_calibration_matches_the_published_summary(
    result: dict[str, Any],
) -> None:
    assert json.loads(json.dumps(result))["customers"] == 2357
    assert result["summary_matches_lifetimes"] is True
    assert result["repeaters"] == result["gamma_gamma"]["repeaters"] == 946
    assert result["holdout_weeks"] == 39.0


def test_fitted_parameters_are_within_one_percent_of_the_papers(result: dict[str, Any]) -> None:
    for part in ("bgnbd", "gamma_gamma"):
        ours, paper = result[part]["ours"], result[part]["paper"]
        for name, value in paper.items():
            assert ours[name] == pytest.approx(value, rel=0.01), (part, name)


def test_the_model_beats_the_same_rate_baseline_on_the_holdout(result: dict[str, Any]) -> None:
    holdout = result["holdout"]
    assert holdout["bgnbd"]["mae"] < holdout["same_rate"]["mae"]
    assert holdout["bgnbd"]["rmse"] < holdout["same_rate"]["rmse"]
    assert holdout["bgnbd"]["total"] == pytest.approx(holdout["actual_total"], rel=0.15)


def test_the_cumulative_curve_adds_up(result: dict[str, Any]) -> None:
    curve = result["cumulative"]
    assert [row["week"] for row in curve] == list(range(1, 79))
    actual = np.array([row["actual"] for row in curve])
    predicted = np.array([row["predicted"] for row in curve])
    assert np.all(np.diff(actual) >= 0) and np.all(np.diff(predicted) > 0)
    # Weeks 1–39 hold every calibration repeat purchase of the published summary; the
    # rest is the holdout.
    from benchmarks.restaurant_clv import cdnow_file

    published = pd.read_csv(cdnow_file("cdnow_customers_summary.csv"))
    assert actual[38] == published["frequency"].sum()
    assert actual[-1] - actual[38] == result["holdout"]["actual_total"]
    assert predicted[-1] == pytest.approx(actual[-1], rel=0.1)


def test_conditional_expectations_cover_every_customer(result: dict[str, Any]) -> None:
    rows = result["conditional"]
    assert [row["x"] for row in rows] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(row["customers"] for row in rows) == result["customers"]
    predicted = [row["predicted"] for row in rows]
    assert predicted == sorted(predicted)  # more past purchases, more expected


def test_markdown_reports_every_part(result: dict[str, Any]) -> None:
    from benchmarks.restaurant_clv import markdown

    text = markdown(result)
    assert text.startswith("### Customer lifetime value on CDNOW")
    for needle in (
        "equals `lifetimes`' `cdnow_customers_summary.csv`",
        "| r | 0.243 | 0.243 |",
        "| same rate as calibration",
        "| 7+ |",
        "| 78 |",
        "no citable table of its values was found",
        "skipped (not requested)",
    ):
        assert needle in text, needle


@pytest.mark.slow  # starts a Python that imports lifetimes (seconds)
def test_lifetimes_cross_check_agrees_with_our_fit(result: dict[str, Any]) -> None:
    from benchmarks.restaurant_clv import (
        cdnow_split,
        cdnow_transactions,
        holdout_weeks,
        lifetimes_cross_check,
        markdown,
    )

    check = lifetimes_cross_check(cdnow_split(cdnow_transactions()), holdout_weeks())
    assert "skipped" not in check, check
    for name, value in result["bgnbd"]["ours"].items():
        assert check["params"][name] == pytest.approx(value, rel=1e-4), name
    assert check["predicted_total"] == pytest.approx(result["holdout"]["bgnbd"]["total"], 1e-4)
    assert "largest relative difference" in markdown({**result, "lifetimes": check})
