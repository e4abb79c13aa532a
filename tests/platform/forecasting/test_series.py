"""Forecasting input validation: every fixable problem is a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting.series import validate


def make_monthly(n_series: int = 3, length: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        ds = pd.date_range("2020-01-01", periods=length - i, freq="MS")
        y = 100 + 10 * np.sin(np.arange(len(ds)) * 2 * np.pi / 12) + rng.normal(0, 1, len(ds))
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed)


def test_dates_are_sorted_and_the_frequency_inferred() -> None:
    series = validate(make_monthly())
    assert series.freq == "MS" and series.season_length == 12 and not series.integer_index
    assert series.lengths().to_dict() == {"s0": 30, "s1": 29, "s2": 28}
    first = series.data[series.data.unique_id == "s0"]["ds"]
    assert first.is_monotonic_increasing


@pytest.mark.parametrize(
    ("freq", "season"),
    # A multiple of the unit has fewer steps per cycle: 5-minute data, 12 an hour.
    [("D", 7), ("W-SUN", 52), ("QS", 4), ("h", 24), ("2h", 12), ("5min", 12), ("15min", 4)],
)
def test_season_length_follows_the_frequency(freq: str, season: int) -> None:
    ds = pd.date_range("2021-01-03", periods=40, freq=freq)
    series = validate(pd.DataFrame({"unique_id": "a", "ds": ds, "y": range(40)}))
    assert series.season_length == season


def test_integer_index_takes_the_given_season_length() -> None:
    frame = pd.DataFrame(
        {
            "unique_id": ["a"] * 5 + ["b"] * 3,
            "ds": [1, 2, 3, 4, 5, 1, 2, 3],
            "y": [1.0, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    series = validate(frame, season_length=4)
    assert series.integer_index and series.season_length == 4 and series.freq is None
    with pytest.raises(InvalidInput, match="integer index"):
        validate(frame, freq="D")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda f: f.drop(columns=["y"]), "missing column(s) y"),
        (lambda f: f.assign(y=f["y"].astype(object).where(f.index != 3, "ten")), "not a number"),
        (lambda f: f.assign(y=f["y"].where(f.index != 3, np.nan)), "y is empty"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "duplicate (unique_id, ds)"),
        (lambda f: f.drop(index=f[(f.unique_id == "s1")].index[5]), "series s1 has 1 missing MS"),
        (lambda f: f.assign(ds=f["ds"].astype(str).where(f.index != 2, "soon")), "neither a date"),
    ],
)
def test_bad_input_names_the_problem(change, words) -> None:
    frame = make_monthly().sort_index()
    with pytest.raises(InvalidInput) as err:
        validate(change(frame))
    assert words in err.value.message


def test_gaps_in_an_integer_index_and_irregular_dates() -> None:
    with pytest.raises(InvalidInput, match="gap in its integer time index"):
        validate(pd.DataFrame({"unique_id": "a", "ds": [1, 2, 4], "y": [1.0, 2, 3]}))
    gappy = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-06"])
    with pytest.raises(InvalidInput, match=r"2 missing D period\(s\) \(first: 2020-01-03"):
        validate(pd.DataFrame({"unique_id": "a", "ds": gappy, "y": [1.0, 2, 3, 4]}))
    irregular = pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-06", "2020-01-11"])
    with pytest.raises(InvalidInput, match="pass --freq"):
        validate(pd.DataFrame({"unique_id": "a", "ds": irregular, "y": [1.0, 2, 3, 4]}))
