"""Long-format time series in (``unique_id``, ``ds``, ``y`` [, exogenous …]), validated.

``ds`` is either a calendar date/time with a regular frequency, or an integer time index
(competition data has no dates). Every problem a user can fix — a missing column, text
in ``y``, a duplicate (series, time) pair, a gap — is an :class:`InvalidInput` naming the
series and the rows, never a silent repair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from foresight.platform.csvfile import row_numbers
from foresight.platform.errors import InvalidInput

REQUIRED = ("unique_id", "ds", "y")
# Seasonal period by pandas frequency prefix: the cycle a seasonal model should use.
SEASON_BY_FREQ = {
    "h": 24,
    "min": 60,
    "D": 7,
    "B": 5,
    "W": 52,
    "M": 12,
    "MS": 12,
    "ME": 12,
    "Q": 4,
    "QS": 4,
    "QE": 4,
    "Y": 1,
    "YS": 1,
    "YE": 1,
    "A": 1,
    "AS": 1,
}


@dataclass(frozen=True)
class SeriesFrame:
    """Validated series: sorted by (unique_id, ds); ``freq`` is None for an integer index."""

    data: pd.DataFrame
    freq: str | None
    season_length: int

    @property
    def integer_index(self) -> bool:
        return self.freq is None

    @property
    def exogenous(self) -> list[str]:
        return [c for c in self.data.columns if c not in REQUIRED]

    def lengths(self) -> pd.Series:
        return self.data.groupby("unique_id", sort=False).size()


def _season(freq: str) -> int:
    """Steps per natural cycle of ``freq``: 24 for hourly (a day), 12 for 5-minute data
    (an hour: 60 minutes over 5), 7 for daily (a week); 1 when none fits a whole number.

    >>> [_season(f) for f in ("h", "2h", "5min", "15min", "D", "MS", "7h")]
    [24, 12, 12, 4, 7, 12, 1]
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    name = offset.name.split("-")[0]
    for key in (name, name.rstrip("SE"), name[:1]):
        if key in SEASON_BY_FREQ:
            season, step = SEASON_BY_FREQ[key], max(1, int(offset.n))
            # A multiple of the unit (5min, 2h) has fewer steps per cycle, if they divide it.
            return season // step if season % step == 0 else 1
    return 1


def validate(
    frame: pd.DataFrame, *, freq: str | None = None, season_length: int | None = None
) -> SeriesFrame:
    """Check and normalise a long-format frame (see the module docstring for the rules)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"missing column(s) {', '.join(missing)}; forecasting input needs unique_id, ds, y "
            f"(the file has: {', '.join(map(str, frame.columns))})",
            details=[{"field": c, "message": "column not found"} for c in missing],
        )
    if frame.empty:
        raise InvalidInput("the input has no rows")
    data = frame.copy()
    data["unique_id"] = data["unique_id"].astype(str)

    y = pd.to_numeric(data["y"], errors="coerce")
    bad_y = y.isna().to_numpy() & data["y"].notna().to_numpy()
    if bad_y.any():
        raise InvalidInput(
            f"y is not a number in row(s) {row_numbers(bad_y)}",
            details=[{"field": "y", "message": "expected a number"}],
        )
    if y.isna().any():
        raise InvalidInput(
            f"y is empty in row(s) {row_numbers(y.isna().to_numpy())}; fill or drop them",
            details=[{"field": "y", "message": "missing value"}],
        )
    data["y"] = y.astype(float)

    data["ds"], integer = _parse_ds(data["ds"])
    dupes = data.duplicated(["unique_id", "ds"], keep=False).to_numpy()
    if dupes.any():
        first = data.loc[dupes, ["unique_id", "ds"]].iloc[0]
        raise InvalidInput(
            f"duplicate (unique_id, ds) rows: {row_numbers(dupes)} (e.g. {first['unique_id']} at "
            f"{first['ds']}); keep one row per series and time",
            details=[{"field": "ds", "message": "duplicate time in a series"}],
        )
    data = data.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)

    if integer:
        if freq is not None:
            raise InvalidInput(
                "ds is an integer index, so --freq does not apply; give --season-length instead"
            )
        _check_integer_gaps(data)
        return SeriesFrame(data, None, season_length or 1)
    freq = freq or _infer_freq(data)
    _check_date_gaps(data, freq)
    return SeriesFrame(data, freq, season_length or _season(freq))


def _parse_ds(ds: pd.Series) -> tuple[pd.Series, bool]:
    if pd.api.types.is_datetime64_any_dtype(ds):
        return ds, False
    numeric = pd.to_numeric(ds, errors="coerce")
    if numeric.notna().all() and np.all(np.mod(numeric, 1) == 0):
        return numeric.astype(np.int64), True
    parsed = pd.to_datetime(ds, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise InvalidInput(
            f"ds is neither a date nor an integer time index in row(s) {row_numbers(bad)}",
            details=[{"field": "ds", "message": "expected a date or an integer"}],
        )
    return parsed, False


def _infer_freq(data: pd.DataFrame) -> str:
    # The longest series say most about the frequency; short ones may be ambiguous.
    groups = sorted(data.groupby("unique_id", sort=False)["ds"], key=lambda kv: -len(kv[1]))
    for _, ds in groups[:3]:
        if len(ds) >= 3:
            freq = pd.infer_freq(pd.DatetimeIndex(ds))
            if freq:
                return freq
    # A gap defeats pandas' inference; the usual step of fixed-length frequencies still
    # tells the frequency, so the gap itself can be reported (by _check_date_gaps).
    longest = pd.DatetimeIndex(groups[0][1]) if groups else pd.DatetimeIndex([])
    if len(longest) >= 3:
        step = pd.Series(longest[1:] - longest[:-1]).mode().iloc[0]
        fixed = {pd.Timedelta(hours=1): "h", pd.Timedelta(days=1): "D"}
        if step in fixed:
            return fixed[step]
        if step == pd.Timedelta(days=7):
            return "W-" + longest[0].day_name()[:3].upper()
    raise InvalidInput(
        "cannot infer the frequency of ds (irregular dates or series too short); "
        "pass --freq, e.g. D, W, MS, QS or YS"
    )


def _check_date_gaps(data: pd.DataFrame, freq: str) -> None:
    for uid, ds in data.groupby("unique_id", sort=False)["ds"]:
        expected = pd.date_range(ds.iloc[0], ds.iloc[-1], freq=freq)
        if len(expected) != len(ds) or not expected.equals(pd.DatetimeIndex(ds)):
            missing = expected.difference(pd.DatetimeIndex(ds))
            off_grid = pd.DatetimeIndex(ds).difference(expected)
            if len(off_grid):
                raise InvalidInput(
                    f"series {uid}: {off_grid[0]} is not on the {freq} grid "
                    f"that starts at {ds.iloc[0]}"
                )
            listed = ", ".join(str(d.date() if d == d.normalize() else d) for d in missing[:3])
            raise InvalidInput(
                f"series {uid} has {len(missing)} missing {freq} period(s) (first: {listed}); "
                "fill them (e.g. with zeros) or split the series",
                details=[{"field": "ds", "message": f"gap in series {uid}"}],
            )


def _check_integer_gaps(data: pd.DataFrame) -> None:
    steps = data.groupby("unique_id", sort=False)["ds"].diff().dropna()
    if (steps != 1).any():
        uid = data.loc[steps[steps != 1].index[0], "unique_id"]
        raise InvalidInput(
            f"series {uid} has a gap in its integer time index; "
            "ds must count up by 1 within each series"
        )
