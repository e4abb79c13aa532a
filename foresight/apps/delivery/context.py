"""Calendar context for a customer's day: public holidays of their country and region.

The ``holidays`` library computes a year in about a millisecond; answers are cached per
(country, subdivision, year), so the hot path only does a dictionary lookup.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from foresight.platform.errors import InvalidInput, did_you_mean

__all__ = ["holiday_name", "holidays_for"]

_YEARS = range(1900, 2201)  # a sanity bound on input, far beyond any delivery horizon


def holidays_for(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    """Public holidays of ``country`` (ISO 3166 code) and optional ``subdivision`` in a year.

    A subdivision adds its own days to the national ones (New York adds Lincoln's
    Birthday, for example). Unknown codes raise ``InvalidInput`` naming them. The result
    is a fresh dict; the cached table behind it is shared.

    >>> holidays_for("US", None, 2025)[date(2025, 11, 27)]
    'Thanksgiving Day'
    """
    return dict(_table(*_normalise(country, subdivision), year))


def holiday_name(country: str, subdivision: str | None, day: date) -> str | None:
    """The name of the public holiday on ``day``, or None (cached per year).

    >>> holiday_name("US", "NY", date(2025, 2, 12))
    "Lincoln's Birthday"
    """
    return _table(*_normalise(country, subdivision), day.year).get(day)


def _normalise(country: str, subdivision: str | None) -> tuple[str, str | None]:
    sub = subdivision.strip() if subdivision else None
    return country.strip().upper(), (sub or None)


@lru_cache(maxsize=256)
def _table(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    import holidays  # imported on first use: the package registers ~200 countries

    if year not in _YEARS:
        raise InvalidInput(f"holiday year {year} is out of range ({_YEARS[0]}–{_YEARS[-1]})")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InvalidInput(
            f"unknown holiday country {country!r}; use an ISO 3166 code such as US, GB or DE"
            + did_you_mean(country, supported)
        )
    known = supported[country]
    if subdivision is not None and subdivision.upper() in known:
        subdivision = subdivision.upper()  # "ny" means NY; codes are upper case
    if subdivision is not None and subdivision not in known:
        hint = did_you_mean(subdivision, known) or f"; known: {', '.join(known[:12])}" + (
            ", …" if len(known) > 12 else ""
        )
        raise InvalidInput(f"unknown subdivision {subdivision!r} of {country}{hint}")
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    # Several names on one day come joined by "; " (the library's own convention).
    return {day: str(name) for day, name in sorted(calendar.items())}
