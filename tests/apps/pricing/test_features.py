"""Demand features: the consumer's one-minute step and the vectorised backfill give the
same rows, bit for bit, on random histories with gaps; the values read as defined."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from foresight.apps.pricing.features import FEATURES, SPAN, Minute, RegionState, backfill


def frame(minutes: list[Minute]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "minute": [m.minute for m in minutes],
            "searches": [m.searches for m in minutes],
            "bookings": [m.bookings for m in minutes],
            "cancels": [m.cancels for m in minutes],
            "available": [m.available for m in minutes],
            "busy": [m.busy for m in minutes],
        }
    )


def stepped(minutes: list[Minute]) -> pd.DataFrame:
    state = RegionState()
    rows = [{"minute": m.minute, **state.step(m)} for m in minutes]
    return pd.DataFrame(rows, columns=["minute", *FEATURES])


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        for x, y in zip(a[col], b[col], strict=True):
            if x is None or (isinstance(x, float) and math.isnan(x)):
                assert y is None or (isinstance(y, float) and math.isnan(y)), col
            else:
                assert x == y, (col, x, y)  # exact: integer sums, one division


@st.composite
def histories(draw: st.DrawFn) -> list[Minute]:
    start = draw(st.integers(29_000_000, 29_100_000))
    gaps = draw(st.lists(st.integers(1, 3000), min_size=1, max_size=60))
    out, minute = [], start
    for gap in gaps:
        minute += gap
        has_supply = draw(st.booleans())
        out.append(
            Minute(
                minute,
                draw(st.integers(0, 400)),
                draw(st.integers(0, 60)),
                draw(st.integers(0, 10)),
                draw(st.integers(0, 300)) if has_supply else None,
                draw(st.integers(0, 300)) if has_supply else None,
            )
        )
    return out


@given(lo=st.integers(0, 10**7), length=st.integers(-1, 5000))
def test_minutes_by_hour_counts_like_a_loop(lo: int, length: int) -> None:
    from foresight.apps.pricing.features import _minutes_by_hour

    want = np.zeros(24, dtype=np.int64)
    for m in range(lo, lo + length):
        want[(m % 1440) // 60] += 1
    assert _minutes_by_hour(lo, lo + length - 1).tolist() == want.tolist()


@settings(max_examples=60, deadline=None)
@given(minutes=histories())
def test_step_and_backfill_agree_exactly(minutes: list[Minute]) -> None:
    same(stepped(minutes), backfill(frame(minutes)))


def test_a_week_of_steady_demand_reads_as_steady() -> None:
    start = 29_000_160  # a Monday 00:00 UTC, in epoch minutes
    minutes = [Minute(start + k, 4, 1, 0, 50, 50) for k in range(SPAN + 30)]
    last = backfill(frame(minutes)).iloc[-1]
    assert last["rolling_avg_7d"] == 20.0 and last["searches_5m"] == 20
    assert last["seasonality_score"] == 1.0 and abs(last["trend"]) < 1e-12
    assert last["utilisation"] == 0.5 and last["cancel_rate_5m"] == 0.0
    busy = [*minutes, Minute(start + SPAN + 30, 40, 2, 1, 10, 90)]
    row = stepped(busy).iloc[-1]
    assert row["searches_15m"] == 14 * 4 + 40 and row["trend"] > 0.5
    assert row["utilisation"] == 0.9 and row["cancel_rate_5m"] == 1 / 6


def test_a_quiet_minute_counts_as_zero_and_supply_carries() -> None:
    minutes = [Minute(100, 10, 0, 0, 5, 5), Minute(104, 10, 0, 0)]  # 101-103 had no events
    rows = backfill(frame(minutes))
    assert rows["searches_5m"].tolist() == [10, 20] and rows["supply_available"].tolist() == [5, 5]
    assert rows["rolling_avg_7d"].iloc[1] == 20.0  # 20 searches in 5 minutes: 20 per 5 minutes
    assert backfill(frame([])).empty
