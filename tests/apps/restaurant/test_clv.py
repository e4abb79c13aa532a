"""BG/NBD, Gamma-Gamma and CLV: closed forms by hand, published CDNOW fits, simulation."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from foresight.apps.restaurant import clv as clv_module
from foresight.apps.restaurant.clv import BetaGeo, GammaGamma, clv

CDNOW = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
HAS_LIFETIMES = importlib.util.find_spec("lifetimes") is not None
needs_cdnow = pytest.mark.skipif(not HAS_LIFETIMES, reason="CDNOW ships with lifetimes (dev)")


def simulate(
    n: int, *, r: float, alpha: float, a: float, b: float, horizon: float, seed: int = 0
) -> pd.DataFrame:
    """BG/NBD customers: calibration (x, t_x, T) and purchases in the next ``horizon``."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(20, 40, n)
    t, x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        t[active] += rng.exponential(1 / lam[active])
        bought = active & (t <= T + horizon)
        in_calibration = bought & (t <= T)
        x[in_calibration] += 1
        t_x[in_calibration] = t[in_calibration]
        later[bought & (t > T)] += 1
        # Drop-out happens right after a purchase, with the customer's own probability p.
        active = bought & (rng.random(n) >= p)
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "holdout": later, "rate": lam})


def test_docstring_example_runs() -> None:
    result = doctest.testmod(clv_module)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ closed forms by hand


def test_p_alive_is_one_without_repeats_and_follows_the_closed_form() -> None:
    assert CDNOW.p_alive([0, 0], [0, 0], [1.0, 500.0]).tolist() == [1.0, 1.0]
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, T = 2, 30.43, 38.86
    by_hand = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert CDNOW.p_alive(x, t_x, T)[0] == pytest.approx(by_hand, rel=1e-12)
    # A purchase at the very end of observation leaves the customer most likely alive.
    assert CDNOW.p_alive(x, T, T)[0] > CDNOW.p_alive(x, t_x, T)[0]


def test_new_customer_expectation_starts_at_zero_and_tends_to_the_mean_lifetime_count() -> None:
    bg = BetaGeo.from_params(r=0.5, alpha=5.0, a=1.5, b=3.0)
    values = bg.expected_purchases_new([0.0, 1.0, 10.0, 100.0, 1e12])
    assert values[0] == 0.0
    assert np.all(np.diff(values) > 0)
    # Every customer buys until a geometric drop-out: E[1/p] = (a+b-1)/(a-1) purchases.
    assert values[-1] == pytest.approx((1.5 + 3.0 - 1) / (1.5 - 1), rel=1e-3)


def test_new_customer_expectation_matches_equation_9_summed_as_a_series() -> None:
    r, alpha, a, b, t = 0.243, 4.414, 0.793, 2.426, 39.0
    z = t / (alpha + t)
    # 2F1(r, b; a+b-1; z) summed term by term: converges since z < 1.
    term, series = 1.0, 1.0
    for k in range(5000):
        term *= (r + k) * (b + k) / ((a + b - 1 + k) * (k + 1)) * z
        series += term
    by_hand = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * series)
    assert CDNOW.expected_purchases_new(t)[0] == pytest.approx(by_hand, rel=1e-9)


def test_a_just_acquired_customer_is_a_new_customer() -> None:
    t = np.array([1.0, 13.0, 52.0])
    assert np.allclose(CDNOW.expected_purchases(t, 0, 0, 0), CDNOW.expected_purchases_new(t))


def test_median_wait_halves_the_pareto_ii_survival() -> None:
    x, T = np.array([0, 3, 12]), np.array([10.0, 20.0, 30.0])
    wait = CDNOW.median_wait(x, T)
    survival = ((CDNOW.alpha_ + T) / (CDNOW.alpha_ + T + wait)) ** (CDNOW.r_ + x)
    assert np.allclose(survival, 0.5)
    assert wait[2] < wait[1] < wait[0]  # frequent buyers come back sooner


def test_posterior_rate_mixes_the_alive_and_dropped_out_posteriors() -> None:
    r, alpha = CDNOW.r_, CDNOW.alpha_
    assert CDNOW.posterior_rate(0, 0, 20.0)[0] == pytest.approx(r / (alpha + 20))
    alive = CDNOW.p_alive(4, 10.0, 30.0)[0]
    by_hand = (r + 4) * (alive / (alpha + 30) + (1 - alive) / (alpha + 10))
    assert CDNOW.posterior_rate(4, 10.0, 30.0)[0] == pytest.approx(by_hand)


def test_gamma_gamma_expected_spend_shrinks_towards_the_population_mean() -> None:
    gg = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    population = 6.25 * 15.44 / (3.74 - 1)
    assert gg.expected_spend(0, np.nan)[0] == pytest.approx(population)
    few, many = gg.expected_spend([1, 50], [100.0, 100.0])
    assert population < few < many < 100.0


@needs_cdnow
def test_gamma_gamma_matches_hardies_spreadsheet_on_the_first_cdnow_customers() -> None:
    # Expected values from Hardie's note 025 spreadsheet, as quoted in lifetimes'
    # tests/test_estimation.py (test_conditional_expected_average_profit); the sheet uses
    # unrounded parameters, hence the tolerance.
    from benchmarks.restaurant_clv import cdnow_file

    data = pd.read_csv(cdnow_file("cdnow_customers_summary_with_transactions.csv")).head(10)
    gg = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    assert np.allclose(gg.expected_spend(data["x"], data["zbar"]), expected, atol=0.06)


def test_clv_is_discounted_expected_purchases_times_expected_spend() -> None:
    gg = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    x, t_x, T, m = (
        np.array([0, 2, 9]),
        np.array([0, 30.0, 35.0]),
        np.full(3, 38.86),
        np.array([0, 20.0, 45.0]),
    )
    spend = gg.expected_spend(x, m)
    one = clv(CDNOW, gg, x, t_x, T, m, periods=1, period_length=4.345, discount=0.01)
    assert np.allclose(one, CDNOW.expected_purchases(4.345, x, t_x, T) * spend / 1.01)
    flat = clv(CDNOW, gg, x, t_x, T, m, periods=12, period_length=4.345, discount=0.0)
    assert np.allclose(flat, CDNOW.expected_purchases(12 * 4.345, x, t_x, T) * spend)
    discounted = clv(CDNOW, gg, x, t_x, T, m, periods=12, period_length=4.345, discount=0.01)
    assert np.all(discounted < flat)


# ----------------------------------------------------------------- edges and bad input


def test_extreme_histories_stay_finite_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = np.array([0, 1e6, 1e6, 5, 5])
        t_x = np.array([0, 38.0, 38.86, 38.86, 0.5])
        T = np.full(5, 38.86)
        expected = CDNOW.expected_purchases(39, x, t_x, T)
        alive = CDNOW.p_alive(x, t_x, T)
        rate = CDNOW.posterior_rate(x, t_x, T)
    assert np.all(np.isfinite(expected)) and np.all(np.isfinite(alive)) and np.all(rate >= 0)
    assert alive[1] < 1e-12  # a million purchases then silence: gone
    assert expected[2] > 1e5  # a million purchases up to today: still buying


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([-1, 2], [0, 1], [3, 3], "x must not be negative"),
        ([1.5, 2], [1, 1], [3, 3], "whole numbers"),
        ([1, 2], [4, 1], [3, 3], "t_x .* must not exceed T"),
        ([0, 2], [1, 1], [3, 3], "t_x must be 0"),
        ([1, 2], [1, np.nan], [3, 3], "t_x must be finite"),
    ],
)
def test_bad_histories_are_refused_by_name(x: list, t_x: list, T: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CDNOW.p_alive(x, t_x, T)
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(x * 10, t_x * 10, T * 10)


def test_fitting_needs_enough_customers_and_some_repeats() -> None:
    with pytest.raises(ValueError, match="at least 10 customers"):
        BetaGeo().fit([1, 0, 2], [1, 0, 2], [3, 3, 3])
    with pytest.raises(ValueError, match="repeat purchase"):
        BetaGeo().fit([0] * 20, [0] * 20, [5] * 20)
    with pytest.raises(ValueError, match="repeat purchases"):
        GammaGamma().fit([1, 2, 0], [5.0, 6.0, 0.0])
    with pytest.raises(ValueError, match="must be positive"):
        GammaGamma().fit([1] * 12, [5.0] * 11 + [0.0])
    with pytest.raises(ValueError, match="periods"):
        clv(CDNOW, GammaGamma.from_params(p=1, q=2, v=1), [1], [1], [2], [3], periods=0)


# ----------------------------------------------------------------------------- fitting


def test_weights_pool_identical_customers() -> None:
    data = simulate(1500, r=0.5, alpha=5.0, a=1.5, b=3.0, horizon=0, seed=1)
    data["T"] = data["T"].round()  # coarse T so that rows repeat
    data["t_x"] = np.minimum(data["t_x"].round(), data["T"]).where(data["x"] > 0, 0.0)
    pooled = data.groupby(["x", "t_x", "T"], as_index=False).size()
    assert len(pooled) < len(data)
    one_by_one = BetaGeo().fit(data["x"], data["t_x"], data["T"])
    weighted = BetaGeo().fit(pooled["x"], pooled["t_x"], pooled["T"], weights=pooled["size"])
    assert np.allclose(one_by_one.params_array(), weighted.params_array(), rtol=1e-5)
    assert one_by_one.loglik_ == pytest.approx(weighted.loglik_)


def test_simulated_customers_are_recovered_and_their_holdout_forecast() -> None:
    truth = {"r": 0.5, "alpha": 5.0, "a": 1.5, "b": 3.0}
    data = simulate(6000, **truth, horizon=39.0, seed=7)
    bg = BetaGeo().fit(data["x"], data["t_x"], data["T"])
    assert bg.converged_
    assert bg.r_ == pytest.approx(truth["r"], rel=0.1)
    assert bg.alpha_ == pytest.approx(truth["alpha"], rel=0.15)
    assert bg.a_ / (bg.a_ + bg.b_) == pytest.approx(truth["a"] / 4.5, rel=0.25)  # mean p
    predicted = bg.expected_purchases(39.0, data["x"], data["t_x"], data["T"])
    assert predicted.sum() == pytest.approx(data["holdout"].sum(), rel=0.06)
    rate = bg.posterior_rate(data["x"], data["t_x"], data["T"])
    assert np.corrcoef(rate, data["rate"])[0, 1] > 0.6
    assert rate.mean() == pytest.approx(data["rate"].mean(), rel=0.1)


@needs_cdnow
def test_cdnow_fit_reproduces_the_published_parameters() -> None:
    from benchmarks.restaurant_clv import cdnow_file

    summary = pd.read_csv(cdnow_file("cdnow_customers_summary.csv"))
    bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL (2005)
    for name, value in published.items():
        assert bg.params_[name] == pytest.approx(value, rel=0.01), name
    assert bg.loglik_ == pytest.approx(-9582.4, abs=0.1)


@needs_cdnow
def test_cdnow_gamma_gamma_reproduces_the_published_parameters() -> None:
    # lifetimes' fit (docs/Quickstart.md, tests/test_estimation.py) uses its
    # cdnow_customers_summary_with_transactions.csv: the 946 customers with x > 0 and
    # "zbar", their mean repeat-purchase value in the calibration weeks. Published:
    # Fader & Hardie (2013) note 025, p 6.25, q 3.74, v 15.44 (lifetimes' docs: 15.45).
    from benchmarks.restaurant_clv import cdnow_file

    data = pd.read_csv(cdnow_file("cdnow_customers_summary_with_transactions.csv"))
    repeaters = data[data["x"] > 0]
    assert len(repeaters) == 946
    gg = GammaGamma().fit(data["x"], data["zbar"])  # x = 0 rows are skipped
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gg.params_[name] == pytest.approx(value, rel=0.02), name


# ----------------------------------------------------------- lifetimes, out of process

_REFERENCE = """
import json, sys
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
q = json.load(sys.stdin)
bgf = BetaGeoFitter(); bgf.params_ = pd.Series(q["bg"])
bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
ggf = GammaGammaFitter(); ggf.params_ = pd.Series(q["gg"])
x, t_x, T, m = (pd.Series(q[k], dtype=float) for k in ("x", "t_x", "T", "m"))
print(json.dumps({
    "expected": bgf.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T).tolist(),
    "alive": bgf.conditional_probability_alive(x, t_x, T).tolist(),
    "new": bgf.expected_number_of_purchases_up_to_time(np.array([1.0, 10, 39, 78])).tolist(),
    "spend": ggf.conditional_expected_average_profit(x, m).tolist(),
    "clv": ggf.customer_lifetime_value(bgf, x, t_x, T, m, time=12, discount_rate=0.01,
                                       freq="W").tolist(),
}))
"""


@pytest.mark.slow  # importing lifetimes alone takes seconds
@needs_cdnow
def test_closed_forms_match_lifetimes_run_in_a_subprocess() -> None:
    gg = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    x, t_x = [0, 1, 2, 5, 30, 200], [0, 3.0, 30.43, 20.0, 38.0, 38.8]
    T, m = [38.86, 38.86, 38.86, 30.0, 38.86, 38.86], [0, 15.0, 22.35, 40.0, 12.0, 30.0]
    query = {"bg": CDNOW.params_, "gg": gg.params_, "x": x, "t_x": t_x, "T": T, "m": m}
    done = subprocess.run(
        [sys.executable, "-c", _REFERENCE],
        input=json.dumps(query),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.allclose(CDNOW.expected_purchases(39, x, t_x, T), theirs["expected"], rtol=1e-9)
    assert np.allclose(CDNOW.p_alive(x, t_x, T), theirs["alive"], rtol=1e-12)
    assert np.allclose(CDNOW.expected_purchases_new([1, 10, 39, 78]), theirs["new"], rtol=1e-9)
    assert np.allclose(gg.expected_spend(x, m), theirs["spend"], rtol=1e-12)
    # lifetimes' "W" months are 4.345 weeks, discounted per month.
    ours = clv(CDNOW, gg, x, t_x, T, m, periods=12, period_length=4.345, discount=0.01)
    assert np.allclose(ours, theirs["clv"], rtol=1e-9)
    assert not math.isnan(sum(theirs["clv"]))


def test_a_near_constant_dropout_stays_finite_and_matches_the_integral() -> None:
    # Short histories can fit a and b in the millions (the 2F1 closed form overflows);
    # the answer then comes from the integral over the dropout probability.
    x, t_x, T = np.array([0.0, 1, 3, 10]), np.array([0.0, 10, 20, 30]), np.full(4, 38.0)
    huge = BetaGeo.from_params(r=1.45, alpha=39.4, a=96348.0, b=3036711.0)
    values = huge.expected_purchases(np.array([21.0, 365.0])[:, None], x, t_x, T)
    assert np.isfinite(values).all() and (values[1] > values[0]).all()
    moderate = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    exact = moderate._purchases_if_alive(np.full(4, 39.0), x, T)
    assert np.allclose(moderate._purchases_by_quadrature(np.full(4, 39.0), x, T), exact, rtol=1e-3)
