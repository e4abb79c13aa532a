"""Demand series on local time: zero-filled slots, the last complete slot, dark days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from foresight.apps.restaurant.features import demand_data, last_complete_slot
from foresight.apps.restaurant.hours import OpeningHours


def _orders(stamps: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    at = pd.to_datetime(stamps, utc=True)
    orders = pd.DataFrame({"order_id": [str(i) for i in range(len(at))], "ordered_at": at})
    lines = pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "ordered_at": at,
            "item_id": "margherita",
            "size": "M",
            "quantity": 2.0,
            "category": "classic",
        }
    )
    menu = pd.DataFrame(
        {"item_id": ["margherita"], "name": ["Margherita"], "category": ["classic"]}
    )
    return orders, lines, menu


def test_series_are_zero_filled_on_local_time_and_a_day_without_orders_is_dark() -> None:
    orders, lines, menu = _orders(
        ["2015-03-02 12:10", "2015-03-02 12:40", "2015-03-04 19:00", "2015-03-05 11:30"]
    )
    tz = ZoneInfo("Europe/Berlin")  # UTC+1 in March
    data = demand_data(
        orders,
        lines,
        menu,
        tz=tz,
        opening=OpeningHours.parse("mon-sun 11:00-23:00"),
        now=datetime(2016, 1, 1, tzinfo=UTC),
        hourly_weeks=4,
    )
    daily = data.daily.pivot(index="ds", columns="unique_id", values="y")
    assert daily["orders:total"].tolist() == [2, 0, 1, 1]
    assert daily["items:item:margherita"].tolist() == [4, 0, 2, 2]
    assert data.dark_days == [pd.Timestamp("2015-03-03")]
    hourly = data.hourly.pivot(index="ds", columns="unique_id", values="y")
    assert hourly.loc[pd.Timestamp("2015-03-02 13:00"), "orders:total"] == 2  # 12:10 UTC = 13:10
    assert len(hourly) == 4 * 24  # whole local days, every hour present
    assert data.daily_until == pd.Timestamp("2015-03-05")


def test_a_running_day_or_hour_is_not_complete() -> None:
    last = pd.Timestamp("2015-03-05 14:30")
    assert last_complete_slot(last, pd.Timestamp("2015-03-05 15:10"), "h") == pd.Timestamp(
        "2015-03-05 14:00"
    )
    assert last_complete_slot(last, pd.Timestamp("2015-03-05 15:10"), "D") == pd.Timestamp(
        "2015-03-04"
    )
    assert last_complete_slot(last, pd.Timestamp("2016-01-01"), "D") == pd.Timestamp("2015-03-05")
