"""Pricing rules and surge: caps and step limits always hold and the factors sum to the
multiplier exactly, for any inputs (hypothesis); the surge's reasons are exact Shapley
shares; A/B arms are stable and follow their weights."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foresight.apps.pricing import rules as rules_module
from foresight.apps.pricing.rules import UNIT, Rule, apply_rule, arm_of, to_units
from foresight.apps.pricing.surge import Surge, surge
from foresight.platform.errors import InvalidInput

positive = st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False)


def grid(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Values with at most 4 decimals (a rule's limits are exact in 1/10,000 units)."""
    return st.integers(round(lo * UNIT), round(hi * UNIT)).map(lambda u: u / UNIT)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    lo = draw(grid(0.1, 5.0))
    hi = draw(grid(lo, 10.0))
    return Rule(
        base_price=draw(st.floats(0.01, 10_000.0)),
        min_multiplier=lo,
        max_multiplier=hi,
        max_step=draw(grid(0.0001, 3.0)),
        smoothing=draw(st.floats(0.01, 1.0)),
        sensitivity=draw(st.floats(0.0, 100.0)),
    )


surges = st.builds(
    Surge,
    normal=st.floats(0.0, 50.0),
    demand=st.floats(-50.0, 50.0),
    supply=st.floats(-50.0, 50.0),
)


@given(rule=rules(), raw=surges, previous=st.one_of(st.none(), st.integers(0, 12 * UNIT)))
def test_caps_always_hold_and_the_factors_sum_exactly(
    rule: Rule, raw: Surge, previous: int | None
) -> None:
    priced = apply_rule(raw, rule, previous)
    assert to_units(rule.min_multiplier) <= priced.units <= to_units(rule.max_multiplier)
    assert sum(priced.factors.values()) == priced.units  # base 1.0 included: exact
    assert priced.price == round(rule.base_price * priced.units / UNIT, 2)
    assert set(priced.factors) == set(rules_module.FACTORS)


@given(rule=rules(), raw=surges, data=st.data())
def test_the_step_limit_holds_from_any_quote_within_the_caps(
    rule: Rule, raw: Surge, data: st.DataObject
) -> None:
    lo, hi = to_units(rule.min_multiplier), to_units(rule.max_multiplier)
    previous = data.draw(st.integers(lo, hi))
    priced = apply_rule(raw, rule, previous)
    assert abs(priced.units - previous) <= to_units(rule.max_step)


def test_a_sequence_of_quotes_walks_to_the_surge_in_limited_steps() -> None:
    rule = Rule(
        base_price=10.0, min_multiplier=1.0, max_multiplier=3.0, max_step=0.2, smoothing=1.0
    )
    raw = Surge(normal=0.5, demand=1.0, supply=0.0)  # wants 2.5
    previous, seen = None, []
    for _ in range(12):
        priced = apply_rule(raw, rule, previous if previous is not None else UNIT)
        seen.append(priced.multiplier)
        previous = priced.units
    assert seen[:3] == [1.2, 1.4, 1.6] and seen[-1] == 2.5
    first = apply_rule(raw, rule, None)  # a first quote: no history, no limit
    assert first.multiplier == 2.5 and first.factors["step_limit"] == 0


@given(
    d=positive,
    c=positive,
    nd=positive,
    nc=positive,
    k=st.floats(0.0, 10.0),
    cap=st.floats(1.0, 10.0),
)
def test_surge_reasons_are_exact_shares(
    d: float, c: float, nd: float, nc: float, k: float, cap: float
) -> None:
    s = surge(
        demand=d, capacity=c, normal_demand=nd, normal_capacity=nc, sensitivity=k, max_pressure=cap
    )
    whole = surge(
        demand=d, capacity=c, normal_demand=d, normal_capacity=c, sensitivity=k, max_pressure=cap
    )
    assert s.total == pytest.approx(whole.normal, abs=1e-9)  # the parts add up to g(D, C)
    assert s.total <= k * (cap - 1) + 1e-9
    same_demand = surge(
        demand=nd, capacity=c, normal_demand=nd, normal_capacity=nc, sensitivity=k, max_pressure=cap
    )
    assert same_demand.demand == pytest.approx(0.0, abs=1e-9)  # demand as usual explains nothing


def test_surge_reads_like_the_situation() -> None:
    busy = surge(demand=300, capacity=100, normal_demand=150, normal_capacity=100, sensitivity=0.5)
    assert busy.normal == pytest.approx(0.25) and busy.demand > 0 and busy.supply == 0
    assert busy.total == pytest.approx(1.0)
    short = surge(demand=150, capacity=50, normal_demand=150, normal_capacity=100, sensitivity=0.5)
    assert short.supply > 0 and short.demand == 0
    assert (
        surge(demand=10, capacity=0, normal_demand=0, normal_capacity=0, sensitivity=1).total == 4.0
    )
    with pytest.raises(InvalidInput, match="finite and >= 0"):
        surge(demand=-1, capacity=1, normal_demand=1, normal_capacity=1, sensitivity=1)


def test_a_bad_rule_names_every_problem() -> None:
    with pytest.raises(InvalidInput, match=r"base_price.*min_multiplier.*smoothing"):
        Rule(base_price=0, min_multiplier=2, max_multiplier=1, smoothing=0)
    with pytest.raises(InvalidInput, match="max_step has at most 4 decimals"):
        Rule(base_price=10, max_step=0.00017)  # it would round up past itself


def test_arms_are_stable_and_follow_their_weights() -> None:
    weights = {"control": 7000, "steep": 2000, "gentle": 1000}
    arms = [arm_of("exp-1", f"user-{i}", weights) for i in range(20_000)]
    assert arms == [arm_of("exp-1", f"user-{i}", weights) for i in range(20_000)]
    for arm, weight in weights.items():
        assert abs(arms.count(arm) / len(arms) - weight / UNIT) < 0.015
    other = [arm_of("exp-2", f"user-{i}", weights) for i in range(2000)]
    assert other != arms[:2000]  # another experiment reshuffles the users
    assert arm_of("exp-1", None, weights) == "control" == arm_of("", "user-1", weights)
    reordered = dict(reversed(list(weights.items())))  # a JSON store may reorder keys
    assert [arm_of("exp-1", f"user-{i}", reordered) for i in range(500)] == arms[:500]
    with pytest.raises(InvalidInput, match="basis points"):
        arm_of("e", "u", {"a": 5000})
    with pytest.raises(InvalidInput, match="integer basis points"):
        arm_of("e", "u", {"a": True, "b": 9999})


def test_docstring_examples_run() -> None:
    assert doctest.testmod(rules_module).failed == 0
