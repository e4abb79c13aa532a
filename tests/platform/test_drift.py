"""Data drift: the training reference, the test chosen per feature, PSI, and JSON storage."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from foresight.platform.drift import OTHER, Reference, compare, infer_kind, psi


def make_frame(
    n: int,
    seed: int = 0,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    plans: tuple[float, float, float] = (0.5, 0.3, 0.2),
    promo: float = 0.3,
) -> pd.DataFrame:
    """A numeric, a three-category and a bool feature with known distributions."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(10 + shift, 2 * scale, n),
            "plan": rng.choice(["basic", "plus", "pro"], size=n, p=plans),
            "promo": rng.random(n) < promo,
        }
    )


def by_name(report):
    return {f.name: f for f in report.features}


# --- the reference -------------------------------------------------------------------------


def test_kinds_are_inferred_like_evidently_and_can_be_overridden() -> None:
    frame = pd.DataFrame(
        {
            "few_ints": [1, 2, 3, 4] * 25,
            "many_ints": list(range(6)) * 16 + [0, 1, 2, 3],
            "few_floats": [0.5, 1.5, 2.5, 3.5] * 25,
            "flag": [True, False] * 50,
            "city": ["a", "b"] * 50,
            "when": pd.date_range("2026-01-01", periods=100, freq="h"),
        }
    )
    assert [infer_kind(frame[c]) for c in frame.columns] == [
        "categorical", "numeric", "categorical", "categorical", "categorical", None,
    ]  # fmt: skip
    ref = Reference.from_frame(frame, kinds={"few_ints": "numeric"})
    assert list(ref.features) == ["few_ints", "many_ints", "few_floats", "flag", "city"]
    assert ref.features["few_ints"].kind == "numeric"
    assert ref.features["flag"].categories == {"False": 0.5, "True": 0.5}
    with pytest.raises(ValueError, match="absent"):
        Reference.from_frame(frame, kinds={"nope": "numeric"})
    with pytest.raises(ValueError, match="'numeric' or 'categorical'"):
        Reference.from_frame(frame, kinds={"city": "text"})


def test_numeric_reference_holds_bins_moments_and_a_seeded_sample() -> None:
    frame = make_frame(5000, seed=0)
    ref = Reference.from_frame(frame, sample_size=1000, seed=7).features["amount"]
    values = frame["amount"].to_numpy()
    assert ref.n_values == 5000 and ref.missing_share == 0.0
    assert ref.edges == tuple(np.quantile(values, np.linspace(0, 1, 11)))
    assert ref.bin_shares == pytest.approx([0.1] * 10)
    assert ref.mean == pytest.approx(values.mean()) and ref.std == pytest.approx(values.std())
    assert len(ref.sample) == 1000 and set(ref.sample) <= set(values)
    same = Reference.from_frame(frame, sample_size=1000, seed=7).features["amount"]
    other = Reference.from_frame(frame, sample_size=1000, seed=8).features["amount"]
    assert same.sample == ref.sample and other.sample != ref.sample


def test_top_50_categories_are_kept_and_the_rest_pooled() -> None:
    # category i appears i + 1 times: c59 is the most frequent, c0..c9 are pooled.
    values = [f"c{i}" for i in range(60) for _ in range(i + 1)]
    ref = Reference.from_frame(pd.DataFrame({"c": values})).features["c"]
    assert len(ref.categories) == 51 and "c10" in ref.categories and "c9" not in ref.categories
    assert ref.categories[OTHER] == pytest.approx(sum(range(1, 11)) / len(values))
    assert sum(ref.categories.values()) == pytest.approx(1.0)


# --- PSI -----------------------------------------------------------------------------------


def test_psi_against_hand_computed_values() -> None:
    assert psi(np.array([0.25] * 4), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(
        0.15 * math.log(2.5) + 0.05 * math.log(1.25) + 0.05 * math.log(1.2) + 0.15 * math.log(1.6)
    )
    # An empty bin counts as 1e-4: 0.25·ln 2 + (0.25 − 1e-4)·ln 2500.
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([2, 1, 1])) == pytest.approx(2.1285158933)
    assert psi(np.array([3, 1]), np.array([0.75, 0.25])) == 0.0
    with pytest.raises(ValueError, match="same bins"):
        psi(np.array([0.5, 0.5]), np.array([1.0]))


def test_numeric_psi_puts_values_outside_the_training_range_in_the_outer_bins() -> None:
    ref = Reference.from_frame(pd.DataFrame({"x": np.arange(100.0)}), bins=4)
    assert ref.features["x"].edges == (0.0, 24.75, 49.5, 74.25, 99.0)
    current = pd.DataFrame({"x": [-5.0] * 10 + [500.0] * 30})
    result = by_name(compare(ref, current))["x"]
    # bins 0.25 each → 10/40, 0, 0, 30/40: 2·(0.25 − 1e-4)·ln 2500 + 0.5·ln 3.
    assert result.psi == pytest.approx(4.45976434056)
    assert result.method == "ks" and result.drifted


def test_a_value_on_an_inner_edge_belongs_to_the_upper_bin() -> None:
    feature = Reference.from_frame(pd.DataFrame({"x": np.arange(101.0)}), bins=2).features["x"]
    assert feature.edges == (0.0, 50.0, 100.0)
    assert feature.bin_shares == (50 / 101, 51 / 101)


def test_unseen_categories_count_under_other() -> None:
    ref = Reference.from_frame(pd.DataFrame({"c": ["a", "b"] * 50}))
    current = pd.DataFrame({"c": ["a", "b"] * 20 + ["new", "newer"] * 5})
    result = by_name(compare(ref, current))["c"]
    # a, b and __other__: three values, so chi-square on the 2×3 table [[50, 50, 0], [20, 20, 10]]
    assert result.method == "chisquare"
    assert result.statistic == pytest.approx(150 / 7)
    assert result.p_value == pytest.approx(math.exp(-150 / 14))  # chi2 sf with 2 dof
    assert result.drifted
    # PSI on a, b, __other__, missing: 2·0.1·ln 1.25 + (0.2 − 1e-4)·ln 2000.
    assert result.psi == pytest.approx(1.5640491119)


def test_integer_categories_match_when_a_nan_turns_them_into_floats() -> None:
    ref = Reference.from_frame(pd.DataFrame({"k": [1, 2, 3] * 100}))
    current = pd.DataFrame({"k": [1.0, 2.0, 3.0] * 30 + [np.nan] * 10})
    result = by_name(compare(ref, current))["k"]
    assert ref.features["k"].categories.keys() == {"1", "2", "3"}
    assert result.method == "chisquare" and result.n_current == 90
    assert result.statistic == pytest.approx(0.0, abs=1e-12) and not result.drifted


# --- the test chosen and its verdict ---------------------------------------------------------


def test_no_false_alarms_on_fresh_samples_small_reference() -> None:
    ref = Reference.from_frame(make_frame(800, seed=0))
    reports = [compare(ref, make_frame(300, seed)) for seed in range(1, 11)]
    assert {(f.name, f.method) for r in reports for f in r.features} == {
        ("amount", "ks"), ("plan", "chisquare"), ("promo", "z"),
    }  # fmt: skip
    # 30 tests at the 5% level: about 1.5 false alarms are expected, never a drifted dataset.
    assert sum(len(r.drifted_features) for r in reports) <= 3
    assert not any(r.dataset_drift for r in reports)


def test_no_false_alarms_on_fresh_samples_large_reference() -> None:
    # 5000 training rows → distances, even though only a 1000-value sample is stored.
    ref = Reference.from_frame(make_frame(5000, seed=0))
    reports = [compare(ref, make_frame(1000, seed)) for seed in range(1, 11)]
    assert {(f.name, f.method) for r in reports for f in r.features} == {
        ("amount", "wasserstein"), ("plan", "jensenshannon"), ("promo", "jensenshannon"),
    }  # fmt: skip
    assert [r.drifted_features for r in reports] == [()] * 10


@pytest.mark.parametrize(
    "offset, p_value, drifted", [(19, 0.0539020789, False), (20, 0.0363842879, True)]
)
def test_ks_drifts_below_the_5_percent_level(offset, p_value, drifted) -> None:
    ref = Reference.from_frame(pd.DataFrame({"x": np.arange(100.0)}))
    result = by_name(compare(ref, pd.DataFrame({"x": np.arange(100.0) + offset})))["x"]
    assert result.statistic == pytest.approx(offset / 100)
    assert (result.p_value, result.drifted) == (pytest.approx(p_value), drifted)


@pytest.mark.parametrize("n_ref, method", [(800, "ks"), (5000, "wasserstein")])
@pytest.mark.parametrize("change", [{"shift": 1.0}, {"scale": 1.6}])
def test_mean_shift_and_variance_change_are_detected(n_ref, method, change) -> None:
    ref = Reference.from_frame(make_frame(n_ref, seed=0))
    result = by_name(compare(ref, make_frame(500, seed=3, **change)))["amount"]
    assert result.method == method and result.drifted


def test_ks_and_wasserstein_statistics_are_the_scipy_ones() -> None:
    small, current = make_frame(800, seed=0), make_frame(300, seed=5, shift=0.3)
    ks = by_name(compare(Reference.from_frame(small), current))["amount"]
    expected = stats.ks_2samp(small["amount"], current["amount"])
    assert (ks.statistic, ks.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    ref = Reference.from_frame(make_frame(5000, seed=0))
    wd = by_name(compare(ref, current))["amount"]
    feature = ref.features["amount"]
    distance = stats.wasserstein_distance(feature.sample, current["amount"])
    assert wd.statistic == pytest.approx(distance / feature.std) and wd.p_value is None


@pytest.mark.parametrize("n_ref, method", [(800, "chisquare"), (5000, "jensenshannon")])
def test_category_share_change_is_detected(n_ref, method) -> None:
    ref = Reference.from_frame(make_frame(n_ref, seed=0))
    result = by_name(compare(ref, make_frame(500, seed=3, plans=(0.3, 0.3, 0.4))))["plan"]
    assert result.method == method and result.drifted


def test_binary_column_uses_the_two_proportion_z_test() -> None:
    ref = Reference.from_frame(pd.DataFrame({"promo": [True] * 30 + [False] * 70}))
    current = pd.DataFrame({"promo": [True] * 50 + [False] * 50})
    result = by_name(compare(ref, current))["promo"]
    # p = 0.3 vs 0.5, pooled 0.4: z = −0.2 / √(0.4·0.6·(1/100 + 1/100)).
    assert result.method == "z"
    assert result.statistic == pytest.approx(-2.8867513459)
    assert result.p_value == pytest.approx(math.erfc(2.8867513459 / math.sqrt(2)))
    assert result.drifted


def test_dataset_drift_follows_the_share_of_drifted_features() -> None:
    ref = Reference.from_frame(make_frame(800, seed=0))
    current = make_frame(500, seed=3, shift=1.0, plans=(0.3, 0.3, 0.4))
    report = compare(ref, current)
    assert report.drifted_features == ("amount", "plan") and report.n_current == 500
    assert report.share_drifted == pytest.approx(2 / 3) and report.dataset_drift
    assert not compare(ref, current, threshold_share=0.9).dataset_drift


# --- missing data and small batches ----------------------------------------------------------


def test_missing_column_is_drifted_and_extra_columns_are_ignored() -> None:
    ref = Reference.from_frame(make_frame(800, seed=0))
    current = make_frame(300, seed=1).drop(columns="plan").assign(unused=1.0)
    report = compare(ref, current)
    plan = by_name(report)["plan"]
    assert (plan.method, plan.drifted, plan.n_current, plan.psi) == ("missing", True, 0, None)
    assert [f.name for f in report.features] == ["amount", "plan", "promo"]


def test_nan_and_inf_are_missing_values() -> None:
    frame = pd.DataFrame({"x": np.append(np.arange(90.0), [np.nan] * 9 + [np.inf])})
    ref = Reference.from_frame(frame, bins=2)
    feature = ref.features["x"]
    assert (feature.n_values, feature.missing_share) == (90, 0.1)
    assert len(feature.sample) == 90 and feature.bin_shares == (0.5, 0.5)
    current = pd.DataFrame({"x": [10.0] * 20 + [80.0] * 20 + [np.nan] * 30 + [-np.inf] * 10})
    result = by_name(compare(ref, current))["x"]
    assert result.n_current == 40 and result.method == "ks"
    # bins + missing: expected 0.45, 0.45, 0.1; actual 0.25, 0.25, 0.5.
    assert result.psi == pytest.approx(0.4 * math.log(0.45 / 0.25) + 0.4 * math.log(5))


def test_all_missing_column_is_drifted() -> None:
    ref = Reference.from_frame(make_frame(800, seed=0))
    current = make_frame(50, seed=1).assign(amount=np.nan, plan=None)
    result = by_name(compare(ref, current))
    assert (result["amount"].method, result["amount"].drifted) == ("missing", True)
    assert (result["plan"].method, result["plan"].drifted) == ("missing", True)


def test_too_few_rows_runs_no_test() -> None:
    ref = Reference.from_frame(make_frame(800, seed=0))
    report = compare(ref, make_frame(29, seed=1, shift=5.0))
    assert {f.method for f in report.features} == {"too_few_rows"}
    assert report.drifted_features == () and not report.dataset_drift
    # No test and no PSI: on a handful of rows either would only be noise.
    assert all(f.p_value is None and f.psi is None for f in report.features)
    assert by_name(compare(ref, make_frame(30, seed=1, shift=5.0)))["amount"].drifted
    small = compare(ref, make_frame(20, seed=1, shift=5.0), min_rows=10)
    assert by_name(small)["amount"].method == "ks"


# --- storage -----------------------------------------------------------------------------------


def test_reference_survives_a_strict_json_round_trip() -> None:
    frame = make_frame(1200, seed=0).assign(empty=np.nan, score=lambda f: f["amount"] * 3)
    ref = Reference.from_frame(frame, kinds={"empty": "numeric"}, sample_size=200)
    text = json.dumps(ref.to_dict(), allow_nan=False)
    restored = Reference.from_dict(json.loads(text))
    assert restored == ref
    assert restored.features["empty"].mean is None
    current = make_frame(400, seed=2, shift=0.5).assign(empty=1.0)
    report = compare(restored, current)
    assert report == compare(ref, current) and "amount" in report.drifted_features
    assert by_name(report)["empty"].method == "no_reference"
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["n_current"] == 400
    with pytest.raises(ValueError, match="version"):
        Reference.from_dict({**ref.to_dict(), "version": 99})
