"""RFM table, quintile cut points, scores and segments; the CDNOW summary reproduced."""

from __future__ import annotations

import doctest
import importlib.util
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from foresight.apps.restaurant import rfm
from foresight.apps.restaurant.rfm import SEGMENTS, cut_points, rfm_table, scores, segment

HAS_LIFETIMES = importlib.util.find_spec("lifetimes") is not None


def make_visits(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    ids, days, amounts = zip(*rows, strict=True)
    return pd.DataFrame({"customer_id": ids, "day": pd.to_datetime(days), "amount": amounts})


def test_docstring_example_runs() -> None:
    result = doctest.testmod(rfm)
    assert result.attempted > 0 and result.failed == 0


def test_same_day_visits_merge_and_times_count_from_the_first_visit() -> None:
    visits = make_visits(
        [
            ("ann", "2024-03-01 12:10", 20.0),
            ("ann", "2024-03-01 19:45", 10.0),  # same day: one visit of 30
            ("ann", "2024-03-08 13:00", 12.0),
            ("ann", "2024-03-22 20:00", 18.0),
            ("bob", "2024-03-20 12:00", 9.0),
        ]
    )
    table = rfm_table(visits, "2024-03-31").set_index("customer_id")
    ann, bob = table.loc["ann"], table.loc["bob"]
    assert (ann["frequency"], ann["x"], ann["t_x"], ann["T"]) == (3, 2, 21.0, 30.0)
    assert ann["recency_days"] == 9
    assert ann["monetary"] == pytest.approx(60.0 / 3)
    assert ann["m"] == pytest.approx((12.0 + 18.0) / 2)  # the first visit is not repeat spend
    assert (bob["frequency"], bob["x"], bob["t_x"], bob["T"], bob["m"]) == (1, 0, 0.0, 11.0, 0.0)
    assert list(table.reset_index().columns) == list(rfm.COLUMNS)


def test_visits_after_as_of_are_not_seen() -> None:
    visits = make_visits(
        [("ann", "2024-03-01", 20.0), ("ann", "2024-04-02", 5.0), ("cat", "2024-04-05", 7.0)]
    )
    table = rfm_table(visits, date(2024, 3, 31))
    assert table["customer_id"].tolist() == ["ann"]
    assert table.loc[0, "x"] == 0 and table.loc[0, "T"] == 30.0
    # A visit on the as-of day itself counts, with t_x = T.
    same_day = rfm_table(visits, "2024-04-02").set_index("customer_id").loc["ann"]
    assert same_day["x"] == 1 and same_day["t_x"] == same_day["T"] == 32.0


def test_dates_and_timezone_aware_stamps_are_accepted() -> None:
    plain = pd.DataFrame(
        {"customer_id": [1, 1], "day": [date(2024, 1, 1), date(2024, 1, 5)], "amount": [3, 4]}
    )
    aware = plain.assign(day=pd.to_datetime(plain["day"]).dt.tz_localize("Europe/Paris"))
    assert rfm_table(plain, "2024-01-10").equals(rfm_table(aware, "2024-01-10"))


def test_bad_visits_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="amount"):
        rfm_table(pd.DataFrame({"customer_id": [1], "day": ["2024-01-01"]}), "2024-01-02")
    with pytest.raises(ValueError, match="missing customer_id"):
        rfm_table(
            pd.DataFrame({"customer_id": [None], "day": ["2024-01-01"], "amount": [1.0]}),
            "2024-01-02",
        )


def test_an_empty_history_gives_an_empty_table() -> None:
    visits = make_visits([("ann", "2024-05-01", 1.0)])
    assert rfm_table(visits, "2024-01-01").empty


# --------------------------------------------------------------------- cuts and scores


def spread_table(n: int = 100) -> pd.DataFrame:
    values = np.arange(1, n + 1, dtype=float)
    return pd.DataFrame({"recency_days": values, "frequency": values, "monetary": values * 10})


def test_cut_points_are_json_able_quintiles() -> None:
    cuts = cut_points(spread_table())
    assert json.loads(json.dumps(cuts)) == cuts
    assert cuts["frequency"] == pytest.approx([20.8, 40.6, 60.4, 80.2])
    assert cuts["monetary"] == pytest.approx([208.0, 406.0, 604.0, 802.0])


def test_scores_split_customers_into_fifths_with_recent_as_best() -> None:
    table = spread_table()
    scored = scores(table, cut_points(table))
    assert isinstance(scored, pd.DataFrame)
    assert scored["f_score"].value_counts().sort_index().tolist() == [20] * 5
    assert scored.loc[0].tolist() == [5, 1, 1]  # most recent, least frequent, lowest spend
    assert scored.loc[99].tolist() == [1, 5, 5]


def test_a_row_scores_as_in_its_table() -> None:
    table = spread_table()
    cuts = cut_points(table)
    scored = scores(table, cuts)
    assert isinstance(scored, pd.DataFrame)
    for i in (0, 37, 99):
        assert scores(table.loc[i], cuts) == scored.loc[i].to_dict()
        assert scores(table.loc[i].to_dict(), cuts) == scored.loc[i].to_dict()


def test_ties_on_an_edge_stay_in_the_lower_bin() -> None:
    cuts = {"recency_days": [10, 20, 30, 40], "frequency": [1, 1, 1, 2], "monetary": [5] * 4}
    row = {"recency_days": 20, "frequency": 1, "monetary": 5}
    assert scores(row, cuts) == {"r_score": 4, "f_score": 1, "m_score": 1}
    assert scores({**row, "frequency": 2}, cuts)["f_score"] == 4
    assert scores({**row, "frequency": 3, "monetary": 6}, cuts) == {
        "r_score": 4,
        "f_score": 5,
        "m_score": 5,
    }


def test_scores_are_stable_while_the_cut_points_are_kept() -> None:
    table = spread_table()
    cuts = cut_points(table)
    before = scores(table.loc[50], cuts)
    grown = pd.concat([table, spread_table(500) * 3], ignore_index=True)
    assert scores(table.loc[50], cuts) == before
    assert scores(table.loc[50], cut_points(grown)) != before  # only a retrain moves them


def test_scores_need_every_cut() -> None:
    with pytest.raises(ValueError, match="monetary"):
        scores({"recency_days": 1, "frequency": 1, "monetary": 1}, {"recency_days": [1] * 4})


# ---------------------------------------------------------------------------- segments


def test_segment_map_covers_the_grid_with_the_eleven_segments() -> None:
    names = {segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert names == {
        "champions",
        "loyal",
        "potential loyalist",
        "new",
        "promising",
        "needs attention",
        "about to sleep",
        "at risk",
        "can't lose",
        "hibernating",
        "lost",
    }
    assert len(SEGMENTS) == 5 and all(len(row) == 5 for row in SEGMENTS.values())


@pytest.mark.parametrize(
    ("r", "f", "name"),
    [
        (5, 5, "champions"),
        (5, 1, "new"),
        (4, 1, "promising"),
        (3, 3, "needs attention"),
        (3, 5, "loyal"),
        (1, 5, "can't lose"),
        (2, 3, "at risk"),
        (2, 2, "hibernating"),
        (1, 1, "lost"),
    ],
)
def test_segment_cells(r: int, f: int, name: str) -> None:
    assert segment(r, f) == name


@pytest.mark.parametrize(("r", "f"), [(0, 3), (6, 1), (3, 2.5), (3, None)])
def test_segment_refuses_scores_outside_1_to_5(r: int, f: object) -> None:
    with pytest.raises(ValueError, match="1–5"):
        segment(r, f)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ CDNOW


@pytest.mark.skipif(not HAS_LIFETIMES, reason="CDNOW ships with lifetimes (dev)")
def test_cdnow_calibration_summary_equals_the_published_one() -> None:
    from benchmarks.restaurant_clv import CAL_END, cdnow_file, cdnow_transactions

    table = rfm_table(cdnow_transactions(), CAL_END)
    published = pd.read_csv(cdnow_file("cdnow_customers_summary.csv"))
    assert table["customer_id"].tolist() == published["ID"].tolist()
    assert table["x"].tolist() == published["frequency"].tolist()
    # The published file gives weeks to two decimals.
    assert np.abs(table["t_x"] / 7 - published["recency"]).max() <= 0.005 + 1e-9
    assert np.abs(table["T"] / 7 - published["T"]).max() <= 0.005 + 1e-9
    spend = pd.read_csv(cdnow_file("cdnow_customers_summary_with_transactions.csv"))
    assert np.abs(table["m"] - spend["zbar"]).max() <= 0.005 + 1e-9
