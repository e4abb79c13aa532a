"""The restaurant demand benchmark: runs end to end on a tiny slice of the pizza year (the
last 6 weeks, the 3 best-selling items, one hourly and two daily origins, short horizons)
and reports sensibly."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from benchmarks.restaurant_demand import LABEL, Plan, markdown, run, verdicts

TINY = (Plan("hour", 1, 24, 24, 3), Plan("day", 2, 7, 7, 3))


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run(weeks=6, items=3, schedule=TINY)


def test_result_is_json_able_and_rolls_the_origins_back_from_the_end(
    result: dict[str, Any],
) -> None:
    assert json.loads(json.dumps(result))["quick"] is False
    assert result["parts"]["hour"]["origins"] == ["2015-12-30 23:00:00"]
    assert result["parts"]["day"]["origins"] == ["2015-12-17 00:00:00", "2015-12-24 00:00:00"]
    assert "2015-12-25" in result["dark_days"]


def test_only_open_slots_are_scored(result: dict[str, Any]) -> None:
    # Hourly: 11:00–22:00 of Dec 31 under "mon-sun 11:00-23:00". Daily: Christmas had no
    # order, so the week after Dec 24 scores 6 days, the week before all 7.
    assert result["parts"]["hour"]["open_slots"] == {"2015-12-30 23:00:00": 12}
    assert result["parts"]["day"]["open_slots"] == {
        "2015-12-17 00:00:00": 7,
        "2015-12-24 00:00:00": 6,
    }


def test_every_level_scores_every_model_on_every_series_and_origin(
    result: dict[str, Any],
) -> None:
    hourly, daily = result["parts"]["hour"]["scores"], result["parts"]["day"]["scores"]
    assert set(hourly) == {"total", "category"} and set(daily) == {"total", "category", "item"}
    assert set(hourly["total"]) == {"ours", "auto_ets", "auto_ets_open", "snaive_24", "snaive_168"}
    assert set(daily["item"]) == {"ours", "auto_ets", "auto_ets_open", "snaive_7"}
    assert hourly["total"]["ours"]["n"] == 2  # orders and items, one origin
    assert daily["item"]["ours"]["n"] == 3 * 2  # three items, two origins
    for scores in (hourly, daily):
        for per_model in scores.values():
            for s in per_model.values():
                assert np.isfinite(s["mase"]) and s["mase"] > 0
                assert 0 <= s["smape"] <= 200


def test_coverage_is_a_share_and_the_wider_interval_covers_more(result: dict[str, Any]) -> None:
    for part in result["parts"].values():
        for by_level in part["coverage"].values():
            for who in ("ours", "auto_ets"):
                assert 0 <= by_level["80"][who] <= by_level["95"][who] <= 1


def test_markdown_has_both_granularities_and_a_verdict_per_level(result: dict[str, Any]) -> None:
    text = markdown(result)
    assert text.startswith("### Demand")
    for head in ("#### Hourly", "#### Daily", "Verdict, hourly:", "Verdict, daily:"):
        assert head in text
    for level in ("total", "category", "item"):
        assert f"- {level}: ours " in text
    assert LABEL["auto_ets_open"] in text


def test_the_verdict_is_the_ratio_of_mean_mase_and_says_where_ours_loses() -> None:
    part = {
        "scores": {
            "total": {
                "ours": {"mase": 0.9, "smape": 10.0, "n": 4},
                "auto_ets": {"mase": 1.0, "smape": 11.0, "n": 4},
            },
            "item": {
                "ours": {"mase": 1.1, "smape": 30.0, "n": 4},
                "auto_ets": {"mase": 1.0, "smape": 29.0, "n": 4},
            },
        },
        "wins": {"total": {"auto_ets": [3, 4]}, "item": {"auto_ets": [1, 4]}},
    }
    text = verdicts(part)
    assert text["total"][0].startswith("beats") and "0.900" in text["total"][0]
    assert "-10.0 %" in text["total"][0] and "3/4" in text["total"][0]
    assert text["item"][0].startswith("**loses to**") and "+10.0 %" in text["item"][0]
