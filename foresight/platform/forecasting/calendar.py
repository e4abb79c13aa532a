"""Calendar and holiday features for dated series (the ``holidays`` library)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput


@lru_cache(maxsize=32)
def holiday_dates(country: str, first_year: int, last_year: int) -> frozenset[np.datetime64]:
    """Public holidays of ``country`` (ISO code, e.g. ``US``, ``DE``) in the given years."""
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    except NotImplementedError:
        raise InvalidInput(
            f"unknown holiday country {country!r}; use an ISO 3166 code such as US, GB or DE"
        ) from None
    return frozenset(np.datetime64(d, "D") for d in calendar)


def features(dates: np.ndarray, freq: str, country: str | None) -> dict[str, np.ndarray]:
    """Calendar columns for ``dates`` (datetime64, NaT allowed) at frequency ``freq``."""
    index = pd.DatetimeIndex(dates.ravel())
    shape = dates.shape
    out: dict[str, np.ndarray] = {}
    unit = pd.tseries.frequencies.to_offset(freq).name.split("-")[0]

    def put(name: str, values: object) -> None:
        out[name] = np.asarray(values, dtype=float).reshape(shape)

    if unit in ("h", "min", "s", "T", "H"):
        put("hour", index.hour)
    if unit in ("h", "min", "s", "T", "H", "D", "B"):
        put("dayofweek", index.dayofweek)
        put("dayofmonth", index.day)
    if unit not in ("Y", "YS", "YE", "A", "AS"):
        put("month", index.month)
        put("weekofyear", index.isocalendar().week.astype("float").to_numpy())
    if country and unit in ("h", "min", "s", "T", "H", "D", "B"):
        valid = index[np.asarray(~np.asarray(index.isna()))]
        if len(valid):
            days = index.values.astype("datetime64[D]")
            hol = holiday_dates(country, int(valid.year.min()), int(valid.year.max()) + 1)
            table = np.array(sorted(hol), dtype="datetime64[D]")
            is_hol = np.isin(days, table)
            near = np.isin(days + np.timedelta64(1, "D"), table) | np.isin(
                days - np.timedelta64(1, "D"), table
            )
            put("holiday", is_hol)
            put("near_holiday", near & ~is_hol)
    return out
