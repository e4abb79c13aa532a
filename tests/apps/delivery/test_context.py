"""context: public holidays per country, subdivision and year."""

from __future__ import annotations

from datetime import date

import pytest

from foresight.apps.delivery.context import holiday_name, holidays_for
from foresight.platform.errors import InvalidInput


def test_thanksgiving_2025_is_named():
    days = holidays_for("US", None, 2025)
    # Fourth Thursday of November 2025, counted by hand: 6, 13, 20, 27.
    assert days[date(2025, 11, 27)] == "Thanksgiving Day"
    assert holiday_name("US", None, date(2025, 11, 27)) == "Thanksgiving Day"
    assert holiday_name("US", None, date(2025, 11, 28)) is None
    assert len(days) == 11  # the federal list
    assert all(d.year == 2025 for d in days)


def test_new_york_adds_lincolns_birthday():
    federal = holidays_for("US", None, 2025)
    new_york = holidays_for("US", "NY", 2025)
    assert date(2025, 2, 12) not in federal
    assert new_york[date(2025, 2, 12)] == "Lincoln's Birthday"
    assert set(federal) < set(new_york)
    assert holiday_name("us", "ny", date(2025, 2, 12)) == "Lincoln's Birthday"


def test_result_is_a_copy_the_cache_cannot_be_changed_through_it():
    days = holidays_for("US", None, 2025)
    days.clear()
    assert holidays_for("US", None, 2025)[date(2025, 12, 25)] == "Christmas Day"


def test_other_countries_work():
    assert holiday_name("DE", None, date(2025, 10, 3)) == "German Unity Day"


@pytest.mark.parametrize("country", ["XX", "Narnia", ""])
def test_unknown_country_is_invalid_input_naming_it(country: str):
    with pytest.raises(
        InvalidInput, match=f"unknown holiday country '{country.upper()}'"
    ) as caught:
        holidays_for(country, None, 2025)
    assert caught.value.status == 422


def test_unknown_subdivision_is_invalid_input_naming_it():
    with pytest.raises(InvalidInput, match="unknown subdivision 'ZZ' of US"):
        holiday_name("US", "ZZ", date(2025, 1, 1))


def test_absurd_year_is_invalid_input():
    with pytest.raises(InvalidInput, match="out of range"):
        holidays_for("US", None, 12025)
