"""What inventory advice is computed from, read from the mirror and the demand chain:
item units sold per local day, the size mix of the last eight weeks, the recipes and
ingredients, stock batches with the last day each can be used, and the item forecast of
whichever demand link answers now (the stored ensemble, else seasonal naive or the
weekly mean on the mirror).

Training calibrates on forecasts made at past cut-offs by the forecasting engine's
global LightGBM member (:func:`engine_forecaster`): eight fits of one fast member keep
the weekly training in seconds, where the served ensemble's four members at eight
cut-offs would take minutes on a year of data. The quantiles therefore measure that
member's errors, a stand-in for the ensemble that usually scores within a few percent
of it on the demand backtest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foresight.apps.restaurant.features import DemandData, local
from foresight.apps.restaurant.hours import OpeningHours
from foresight.apps.restaurant.inventory import Forecaster, InventoryData
from foresight.apps.restaurant.model import (
    SEASON_DAILY,
    DemandModel,
    SeasonalNaiveRule,
    WeeklyMeanDefault,
    weekly_mean_path,
)
from foresight.apps.restaurant.reorder import TOLERANCE, Batch
from foresight.platform.forecasting.baselines import seasonal_naive_path
from foresight.platform.forecasting.engine import ForecastConfig, forecast
from foresight.platform.forecasting.series import validate

CALIBRATION_MEMBERS = ("lightgbm",)
SHARE_WEEKS = 8  # the size mix of the last eight weeks (docs/restaurant-plan.md §4.11)
REVIEW_DAYS = 1  # stock is reviewed daily
DEFAULT_LEAD_TIME_DAYS = 2.0  # for an ingredient whose supplier lead time is unknown
ITEM = "items:item:"

ClosedFn = Callable[[np.ndarray], np.ndarray]


def closed_days(opening: OpeningHours, dark_days: Sequence[pd.Timestamp]) -> ClosedFn:
    """Day stamps → closed: by the opening hours, or a past day without a single order."""
    dark = np.array(sorted(dark_days), dtype="datetime64[D]")

    def closed(stamps: np.ndarray) -> np.ndarray:
        shut = opening.closed_mask(stamps, freq="D")
        return shut | np.isin(np.asarray(stamps).astype("datetime64[D]"), dark)

    return closed


def engine_forecaster(closed: ClosedFn, *, country: str | None, seed: int) -> Forecaster:
    """A :data:`~foresight.apps.restaurant.inventory.Forecaster` on the forecasting engine
    (days × items in, the next ``horizon`` days × items out)."""

    def run(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        frame = history.rename_axis(index="ds", columns=None).reset_index()
        frame = frame.melt(id_vars="ds", var_name="unique_id", value_name="y")
        config = ForecastConfig(
            horizon=horizon,
            members=CALIBRATION_MEMBERS,
            n_windows=0,  # points only: the inventory model calibrates the errors itself
            country=country,
            seed=seed,
            n_jobs=1,
        )
        result = forecast(validate(frame, freq="D"), config, closed=closed)
        days = pd.DatetimeIndex(result.future[0])
        return pd.DataFrame(result.point.T, index=days, columns=result.uids)

    return run


def share_window_start(until: pd.Timestamp, tz: ZoneInfo) -> datetime:
    """A UTC time before the first local day of the size-mix window (a day early, so no
    zone offset cuts into it): read lines from here, not the whole history."""
    first = until - pd.Timedelta(weeks=SHARE_WEEKS)
    return (
        first.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
        .tz_convert("UTC")
        .to_pydatetime()
    )


def size_shares(lines: pd.DataFrame, tz: ZoneInfo, until: pd.Timestamp) -> pd.DataFrame:
    """item_id, size, share: each item's size mix over the ``SHARE_WEEKS`` weeks to
    ``until`` (a local day); an unsized line counts as size ""."""
    day = local(lines["ordered_at"], tz).dt.normalize()
    first = until - pd.Timedelta(weeks=SHARE_WEEKS) + pd.Timedelta(days=1)
    recent = lines[(day >= first) & (day <= until)]
    sold = (
        recent.assign(size=recent["size"].fillna("").astype(str))
        .groupby(["item_id", "size"])["quantity"]
        .sum()
        .reset_index()
    )
    sold = sold[sold["quantity"] > 0]
    sold["share"] = sold["quantity"] / sold.groupby("item_id")["quantity"].transform("sum")
    return sold[["item_id", "size", "share"]].reset_index(drop=True)


def training_data(
    demand: DemandData,
    *,
    lines: pd.DataFrame,
    recipes: pd.DataFrame,
    ingredients: pd.DataFrame,
    tz: ZoneInfo,
    opening: OpeningHours,
    country: str | None,
    seed: int,
) -> InventoryData:
    """One training's inputs: item units per day up to the last complete day, the size
    mix, recipes, ingredients, and the engine forecaster for the cut-offs."""
    closed = closed_days(opening, demand.dark_days)
    recipe_rows = recipes[["item_id", "size", "ingredient_id", "quantity"]]
    digest = hashlib.sha256(demand.fingerprint.encode())
    for frame in (recipe_rows, ingredients):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return InventoryData(
        daily=demand.daily,  # item_wide reads the demand series' items:item:<id> rows
        shares=size_shares(lines, tz, demand.daily_until),
        recipes=recipe_rows,
        ingredients=ingredients,
        forecaster=engine_forecaster(closed, country=country, seed=seed),
        closed=closed,
        review_days=REVIEW_DAYS,
        default_lead_time_days=DEFAULT_LEAD_TIME_DAYS,
        fingerprint=digest.hexdigest()[:16],
    )


@dataclass(frozen=True)
class StockInputs:
    """The mirror's side of an answer: the first day the stock serves, the size mix,
    recipes, ingredients and batches with stock left (per ingredient)."""

    today: date
    shares: pd.DataFrame
    recipes: pd.DataFrame
    ingredients: pd.DataFrame
    batches: dict[str, list[Batch]]


@dataclass(frozen=True)
class ItemForecast:
    """Item units per day from ``today`` on (long: item_id, day, quantity), and which demand
    method made them; ``fallback`` is set when the model could not answer."""

    frame: pd.DataFrame
    days: int
    method: str
    fallback: str | None = None


def item_forecast(
    link: object, data: DemandData, opening: OpeningHours, today: date, days: int
) -> ItemForecast:
    """``days`` days of item units from ``today`` under one demand link.

    The stored ensemble answers when its daily forecast still covers a week from
    ``today`` (items it never saw come from seasonal naive); otherwise, and for the rule
    and default links, the mirror's history answers (closed days are zero).
    """
    start = pd.Timestamp(today)
    if isinstance(link, DemandModel):
        covered = (link.daily_until + pd.Timedelta(days=link.daily.horizon) - start).days + 1
        if covered >= SEASON_DAILY and start > link.daily_until:
            frame = _from_model(link, start, min(days, covered))
            missing = _from_mirror(SeasonalNaiveRule(), data, opening, start, min(days, covered))
            missing = missing[~missing["item_id"].isin(frame["item_id"])]
            return ItemForecast(
                pd.concat([frame, missing], ignore_index=True), min(days, covered), "ensemble"
            )
        link, fallback = SeasonalNaiveRule(), "rule_baseline"  # too stale to cover a week
    else:
        fallback = None
    rule = link if isinstance(link, (SeasonalNaiveRule, WeeklyMeanDefault)) else WeeklyMeanDefault()
    return ItemForecast(_from_mirror(rule, data, opening, start, days), days, rule.method, fallback)


def _from_model(model: DemandModel, start: pd.Timestamp, days: int) -> pd.DataFrame:
    result = model.daily
    rows = [i for i, uid in enumerate(result.uids) if uid.startswith(ITEM)]
    offset = (start - model.daily_until).days - 1  # step 0 is the day after the data
    steps = np.arange(offset, offset + days)
    wanted = pd.date_range(start, periods=days, freq="D")
    return pd.DataFrame(
        {
            "item_id": np.repeat([result.uids[i][len(ITEM) :] for i in rows], days),
            "day": np.tile(wanted, len(rows)),
            "quantity": np.maximum(result.point[rows][:, steps], 0.0).ravel(),
        }
    )


def _from_mirror(
    link: SeasonalNaiveRule | WeeklyMeanDefault,
    data: DemandData,
    opening: OpeningHours,
    start: pd.Timestamp,
    days: int,
) -> pd.DataFrame:
    """The rule's or default's path per item, from the day after the data to the wanted
    days, with closed days at zero."""
    # Steps from the day after the data; at least ``days`` so a start at or before the
    # data's end (a stale caller) still yields one value per wanted day.
    ahead = max(days, (start - data.daily_until).days - 1 + days)
    wanted = pd.date_range(start, periods=days, freq="D")
    shut = opening.closed_mask(wanted.to_numpy(), freq="D")
    items = data.daily[data.daily["unique_id"].str.startswith(ITEM)]
    out = []
    for uid, group in items.groupby("unique_id", sort=True):
        history = group.sort_values("ds")["y"].to_numpy(dtype=float)
        if isinstance(link, WeeklyMeanDefault):
            path = weekly_mean_path(history, ahead, SEASON_DAILY, link.weeks)[0]
        else:
            path = seasonal_naive_path(pd.Series(history), ahead, 80.0, season=SEASON_DAILY)[0]
        values = np.where(shut, 0.0, np.maximum(np.asarray(path, dtype=float)[-days:], 0.0))
        out.append(
            pd.DataFrame({"item_id": str(uid)[len(ITEM) :], "day": wanted, "quantity": values})
        )
    if not out:
        return pd.DataFrame({"item_id": [], "day": pd.DatetimeIndex([]), "quantity": []})
    return pd.concat(out, ignore_index=True)


def last_day_of_use(expires_local: pd.Timestamp, opening: OpeningHours) -> date:
    """The last local day a batch can serve. A bare date (midnight) is a "use by" date,
    good through that day; a batch that expires at a time of day serves that day only if
    the restaurant is open before then (stock that goes off at 09:00 is no use to a
    kitchen opening at 11:00)."""
    day = expires_local.normalize()
    minutes = int((expires_local - day) / pd.Timedelta(minutes=1))
    if minutes == 0:
        return day.date()
    stamp = np.array([day.to_datetime64()], dtype="datetime64[m]")
    usable = bool(opening.open_slots(stamp, minutes=minutes)[0])
    return day.date() if usable else (day - pd.Timedelta(days=1)).date()


def stock_batches(
    batches: pd.DataFrame, tz: ZoneInfo, opening: OpeningHours
) -> dict[str, list[Batch]]:
    """Batches with stock left, per ingredient, with their last day of use."""
    left = batches[batches["quantity_remaining"] > TOLERANCE]
    out: dict[str, list[Batch]] = {}
    if left.empty:
        return out
    rows = zip(
        left["batch_id"].astype(str),
        left["ingredient_id"].astype(str),
        left["quantity_remaining"].astype(float),
        local(left["expires_at"], tz),
        strict=True,
    )
    for batch_id, ingredient_id, quantity, expires in rows:
        batch = Batch(batch_id, quantity, last_day_of_use(expires, opening))
        out.setdefault(ingredient_id, []).append(batch)
    return out


def as_of(data: DemandData) -> date:
    """The first day the stock on hand must serve: the day after the last complete day."""
    return (data.daily_until + timedelta(days=1)).date()
