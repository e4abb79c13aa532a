"""Delivery time across several seeded splits: how much of a single split's MAE is the split.

``python -m benchmarks.restaurant_delivery_splits [--seeds 42,1,2,3,4] [--budget 60]``
prints a markdown part; ``python -m benchmarks.restaurant --parts delivery_splits`` puts it
in ``benchmarks/RESULTS.md``.

The book's split (R's ``initial_validation_split``) cannot be reproduced, so its numbers
are one draw from the distribution of random 60/20/20 splits. One of ours is another
draw: on seed 42 every method scores 0.08–0.11 worse on validation than on
test, more than two standard errors. The mean over several splits estimates what the
book's split would give, without choosing a split. Every split is reported: 42 is the
other sections' seed, 1–4 the first four tried after it; none was dropped.

Methods (each fitted on its split's training part only):

- the app's served configuration (``kitchen_model``: log minutes, linear + LightGBM,
  2000 µs row budget), as ``restaurant_delivery`` fits it;
- linear only, on log minutes (the book's linear regression is 1.609);
- the fixed linear-leaves LightGBM of ``restaurant_delivery_reference`` (outside the
  learner: LightGBM has no SHAP values for linear leaves, so the app cannot serve it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.restaurant_delivery import (
    AIM,
    APP_MEMBERS,
    APP_ROW_BUDGET_US,
    BOOK,
    Method,
    _run_method,
    _split,
)
from benchmarks.results import machine
from foresight.apps.restaurant.tickets import delivery_frame_from_modeldata

SEEDS = (42, 1, 2, 3, 4)
METHODS = (
    Method(
        "app",
        f"app's served model (log minutes, linear + LightGBM, {APP_ROW_BUDGET_US:.0f} µs)",
        members=APP_MEMBERS,
        row_budget_us=APP_ROW_BUDGET_US,
        log_target=True,
    ),
    Method("linear_log", "learner, linear only, log minutes", members=("linear",), log_target=True),
    Method(
        "linear_trees",
        "reference: LightGBM linear leaves (not servable)",
        reference=True,
        log_target=True,
    ),
)


def run(seeds: tuple[int, ...] = SEEDS, time_budget: float = 60.0) -> dict[str, Any]:
    """Fit every method on each seed's training part; validation and test MAE per split."""
    started = time.perf_counter()
    scores: dict[str, dict[int, dict[str, float]]] = {m.key: {} for m in METHODS}
    for seed in seeds:
        frames = {p: delivery_frame_from_modeldata(f) for p, f in _split(None, seed).items()}
        for method in METHODS:
            r = _run_method(method, frames, time_budget, seed)
            if r["status"] != "ok":
                raise RuntimeError(f"{method.key} failed on seed {seed}: {r.get('error')}")
            scores[method.key][seed] = {
                part: float(r["scores"][part]["mae"]) for part in ("validation", "test")
            }
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "seeds": list(seeds),
        "time_budget": time_budget,
        "scores": scores,
        "seconds": round(time.perf_counter() - started, 1),
    }


def summary(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error across splits (0 for one split)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, float(se)


def markdown(result: dict[str, Any]) -> str:
    """The part: one row per method, a column per split, and the mean with its error."""
    seeds = result["seeds"]
    head = " | ".join(f"seed {s} val / test" for s in seeds)
    lines = [
        "### Delivery time across splits",
        "",
        f"Run {result['date']} on {result['machine']}; {result['time_budget']:.0f} s per fit, "
        f"{result['seconds']:.0f} s in all. {len(seeds)} seeded 60/20/20 splits of "
        "`deliveries` (stratified as above); each method is fitted on a split's training "
        "part and scored on its validation and test parts. The book's split is one random "
        "draw we cannot reproduce; the mean over splits estimates what a random split gives "
        "(± is its standard error across splits).",
        "",
        f"| Method | {head} | mean validation MAE | mean test MAE |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for method in METHODS:
        per = result["scores"][method.key]
        cells = [f"{per[s]['validation']:.3f} / {per[s]['test']:.3f}" for s in seeds]
        val = summary([per[s]["validation"] for s in seeds])
        test = summary([per[s]["test"] for s in seeds])
        lines.append(
            f"| {method.label} | {' | '.join(cells)} "
            f"| {val[0]:.3f} ± {val[1]:.3f} | {test[0]:.3f} ± {test[1]:.3f} |"
        )
    lo, hi = BOOK["cubist"]
    lines += ["", _verdict(result, lo, hi)]
    return "\n".join(lines)


def _verdict(result: dict[str, Any], lo: float, hi: float) -> str:
    per = result["scores"]["app"]
    seeds = result["seeds"]
    val, _ = summary([per[s]["validation"] for s in seeds])
    test, _ = summary([per[s]["test"] for s in seeds])
    below = [s for s in seeds if per[s]["validation"] < AIM]
    return (
        f"The app's served model: mean validation MAE {val:.3f} and test {test:.3f} over "
        f"{len(seeds)} splits, against the book's Cubist {lo:.2f}–{hi:.2f} and linear "
        f"regression {BOOK['linear']:.3f}; the aim (below {AIM:.2f}) is "
        f"{'met' if val < AIM and test < AIM else 'not met'} on the mean, and on validation "
        f"in {len(below)} of {len(seeds)} splits (not on "
        f"{', '.join(f'seed {s}' for s in seeds if s not in below) or 'none'})."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Delivery time across seeded splits")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit")
    args = parser.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    print(markdown(run(seeds, args.budget)))


if __name__ == "__main__":
    main()
