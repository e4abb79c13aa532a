"""Answers to a demand query: which series, which slots, and from which link of the
fallback chain (the stored ensemble, top-down from it, seasonal naive, or the default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.restaurant.features import DemandData, series_uid
from foresight.apps.restaurant.hours import OpeningHours, check_range
from foresight.apps.restaurant.model import (
    DemandModel,
    SeasonalNaiveRule,
    WeeklyMeanDefault,
    weekly_mean_path,
)
from foresight.platform.errors import InvalidInput, NotFound, did_you_mean
from foresight.platform.forecasting.baselines import seasonal_naive_path
from foresight.platform.serving import Served

STEP = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}
FREQ = {"hour": "h", "day": "D"}


@dataclass(frozen=True)
class DemandQuery:
    start: date | datetime
    end: date | datetime
    granularity: str = "day"
    measure: str = "items"
    item_id: str | None = None
    category: str | None = None
    level: float = 80.0


def slots(query: DemandQuery) -> pd.DatetimeIndex:
    """The local slot starts a query asks for (a date as ``end`` of an hourly query means
    through its last hour)."""
    start, end = pd.Timestamp(query.start), pd.Timestamp(query.end)
    if query.granularity == "day":
        return pd.date_range(start.normalize(), end.normalize(), freq="D")
    if not isinstance(query.end, datetime):
        end = end.normalize() + pd.Timedelta(hours=23)
    return pd.date_range(start.floor("h"), end.floor("h"), freq="h")


def pick_series(query: DemandQuery, data: DemandData) -> str:
    """The series id of a query; unknown items or categories are a 404 naming the field."""
    if query.item_id is not None and query.category is not None:
        raise InvalidInput(
            "give item_id or category, not both",
            details=[{"field": "category", "message": "give item_id or category, not both"}],
        )
    if query.measure == "orders" and (query.item_id or query.category):
        raise InvalidInput(
            "orders are counted per order, not per item or category; use measure=items",
            details=[{"field": "measure", "message": "use measure=items for an item or category"}],
        )
    if query.item_id is not None and query.item_id not in data.items:
        raise NotFound(
            f"unknown item {query.item_id!r}{did_you_mean(query.item_id, data.items)} (see /menu)",
            details=[{"field": "item_id", "message": "unknown item"}],
        )
    categories = {v["category"] for v in data.items.values()}
    if query.category is not None and query.category not in categories:
        raise NotFound(
            f"unknown category {query.category!r}; categories: {', '.join(sorted(categories))}",
            details=[{"field": "category", "message": "unknown category"}],
        )
    return series_uid(query.measure, category=query.category, item_id=query.item_id)


class DemandAnswers:
    """Slices stored forecasts, or computes the rule and default from the mirror."""

    def __init__(
        self, opening: OpeningHours, hourly_horizon_days: int, daily_horizon_days: int
    ) -> None:
        self.opening = opening
        self.horizon_days = {"hour": hourly_horizon_days, "day": daily_horizon_days}

    def window(
        self, granularity: str, data: DemandData, model: DemandModel | None
    ) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last slot a forecast can answer now."""
        until = data.hourly_until if granularity == "hour" else data.daily_until
        first = until + STEP[granularity]
        if model is not None:
            result = model.result(granularity)
            last = model.until(granularity) + STEP[granularity] * result.horizon
        else:
            last = until + STEP[granularity] * (
                self.horizon_days[granularity] * (24 if granularity == "hour" else 1)
            )
        return first, max(last, first)

    def answer(self, query: DemandQuery, served: Served, data: DemandData) -> dict[str, Any]:
        uid = pick_series(query, data)
        g = query.granularity
        model = served.model if isinstance(served.model, DemandModel) else None
        first, last = self.window(g, data, model)
        days = self.horizon_days[g]
        other = "granularity=day" if g == "hour" else None
        check_range(
            query.start,
            query.end,
            granularity="hour" if g == "hour" else "day",
            first_allowed=first.to_pydatetime(),
            last_allowed=last.to_pydatetime(),
            horizon_text=f"{days} days after the data, which ends {data.daily_until:%Y-%m-%d}",
            alternative=f"{other} ({self.horizon_days['day']} days)" if other else None,
        )
        wanted = slots(query)  # after the range check: a bounded number of slots
        method = "ensemble"
        point = lo = hi = None
        if model is not None:
            got = self._from_model(model, uid, query, wanted)
            if got is not None:
                point, lo, hi, method = got
        fallback = served.fallback
        if point is None:
            link = (
                served.model
                if isinstance(served.model, (SeasonalNaiveRule, WeeklyMeanDefault))
                else SeasonalNaiveRule()
            )
            if model is not None:  # the model cannot answer this series: the rule does
                fallback = fallback or "rule_baseline"
            point, lo, hi, method = self._from_mirror(link, uid, query, wanted, data)
        shut = self.opening.closed_mask(wanted.to_numpy(), freq=FREQ[g])
        point, lo, hi = (np.where(shut, 0.0, np.maximum(a, 0.0)) for a in (point, lo, hi))
        total = self._total(model, uid, query, wanted, point, lo, hi, method)
        fmt = "%Y-%m-%dT%H:%M" if g == "hour" else "%Y-%m-%d"
        return {
            "series": uid,
            "granularity": g,
            "measure": query.measure,
            "level": query.level,
            "start": wanted[0].strftime(fmt),
            "end": wanted[-1].strftime(fmt),
            "points": [
                {
                    "at": at.strftime(fmt),
                    "open": not s,
                    "value": round(float(p), 3),
                    "lower": round(float(a), 3),
                    "upper": round(float(b), 3),
                }
                for at, s, p, a, b in zip(wanted, shut, point, lo, hi, strict=True)
            ],
            "total": total,
            "method": method,
            "model_version": served.label,
            "fallback": fallback,
        }

    # ---- links -----------------------------------------------------------------------------
    def _from_model(
        self, model: DemandModel, uid: str, query: DemandQuery, wanted: pd.DatetimeIndex
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
        g = query.granularity
        result = model.result(g)
        steps = _steps(wanted, model.until(g), STEP[g])
        if steps.min() < 0 or steps.max() >= result.horizon:
            return None
        if uid in result.uids:
            row = result.index(uid)
            lo, hi = result.bounds(query.level, np.array([row]))
            return result.point[row, steps], lo[0, steps], hi[0, steps], "ensemble"
        if g == "hour" and uid.startswith("items:item:"):
            return self._top_down(model, uid, query, wanted)
        return None

    def _top_down(
        self, model: DemandModel, uid: str, query: DemandQuery, wanted: pd.DatetimeIndex
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
        """An item per hour: its daily forecast × its share of that weekday's hour; the
        interval keeps the relative width of its category's hourly interval."""
        item = uid.removeprefix("items:item:")
        daily = model.daily
        days = _steps(wanted.normalize(), model.daily_until, STEP["day"])
        profile = model.hour_profile.get(item)
        if (
            uid not in daily.uids
            or profile is None
            or days.max() >= daily.horizon
            or days.min() < 0
        ):
            return None
        d_row = daily.index(uid)
        share = np.array([profile[at.dayofweek * 24 + at.hour] for at in wanted])
        point = daily.point[d_row, days] * share
        cat = series_uid("items", category=model.items.get(item, {}).get("category"))
        hourly = model.hourly
        h_steps = _steps(wanted, model.hourly_until, STEP["hour"])
        if cat in hourly.uids and h_steps.max() < hourly.horizon and h_steps.min() >= 0:
            row = hourly.index(cat)
            c_lo, c_hi = hourly.bounds(query.level, np.array([row]))
            c_pt = hourly.point[row, h_steps]
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.where(c_pt > 0, point * c_lo[0, h_steps] / c_pt, 0.0)
                hi = np.where(c_pt > 0, point * c_hi[0, h_steps] / c_pt, 0.0)
        else:
            lo, hi = point * 0.5, point * 1.5
        return point, lo, hi, "top_down"

    def _from_mirror(
        self,
        link: SeasonalNaiveRule | WeeklyMeanDefault,
        uid: str,
        query: DemandQuery,
        wanted: pd.DatetimeIndex,
        data: DemandData,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        g = query.granularity
        long = data.hourly if g == "hour" else data.daily
        top_down = g == "hour" and uid.startswith("items:item:")
        source_uid = uid
        if top_down:  # hourly history is kept per total and category only
            source_uid = series_uid(
                "items", category=data.items[uid.removeprefix("items:item:")]["category"]
            )
        history = long.loc[long["unique_id"] == source_uid, "y"].to_numpy(dtype=float)
        until = data.hourly_until if g == "hour" else data.daily_until
        steps = _steps(wanted, until, STEP[g])
        horizon = int(steps.max()) + 1
        season = link.season(g)
        if isinstance(link, WeeklyMeanDefault):
            point, lo, hi = weekly_mean_path(history, horizon, season, link.weeks)
        else:
            point, lo, hi = seasonal_naive_path(
                pd.Series(history), horizon, query.level, season=season
            )
        point, lo, hi = (np.asarray(a, dtype=float)[steps] for a in (point, lo, hi))
        if top_down:  # the item's share of its category over the last weeks
            daily = data.daily
            mine = daily.loc[daily["unique_id"] == uid, "y"].to_numpy()[-28:].sum()
            cat = daily.loc[daily["unique_id"] == source_uid, "y"].to_numpy()[-28:].sum()
            ratio = mine / cat if cat > 0 else 0.0
            point, lo, hi = point * ratio, lo * ratio, hi * ratio
        return point, lo, hi, link.method

    def _total(
        self,
        model: DemandModel | None,
        uid: str,
        query: DemandQuery,
        wanted: pd.DatetimeIndex,
        point: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        method: str,
    ) -> dict[str, float]:
        total = float(point.sum())
        low, high = float(lo.sum()), float(hi.sum())
        if model is not None and method == "ensemble":
            g = query.granularity
            result = model.result(g)
            steps = _steps(wanted, model.until(g), STEP[g])
            row = result.index(uid)
            # The interval of a total is calibrated on backtest totals of the same length
            # (the sum of per-slot bounds would be far too wide); a window that does not
            # start at the forecast's first slot keeps that width around its own total.
            _, s_lo, s_hi = result.sum_bounds(row, len(steps), query.level)
            half = (s_hi - s_lo) / 2
            low, high = max(total - half, 0.0), total + half
        return {"value": round(total, 3), "lower": round(low, 3), "upper": round(high, 3)}


def _steps(wanted: pd.DatetimeIndex, until: pd.Timestamp, step: pd.Timedelta) -> np.ndarray:
    """Forecast step index of each wanted slot (0 = the first slot after ``until``)."""
    return np.asarray((wanted - until) // step, dtype=int) - 1
