"""The restaurant app's benchmarks in one run, written to the "Restaurant" section of
``benchmarks/RESULTS.md``: demand (rolling origin on the pizza year), delivery time
(modeldata deliveries, one split and five), customer value (CDNOW), latency of every endpoint.

    python -m benchmarks.restaurant                  # every part (~25 min on 2 cores)
    python -m benchmarks.restaurant --parts clv      # one part; the others' text is kept

Each part's text is also kept in ``benchmarks/restaurant_<part>.md`` so a run of one part
rewrites only its own text inside the section.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    restaurant_clv,
    restaurant_delivery,
    restaurant_delivery_splits,
    restaurant_demand,
    restaurant_latency,
)
from benchmarks.results import machine, update_section

HERE = Path(__file__).resolve().parent
PARTS: dict[str, Callable[[], str]] = {
    "demand": lambda: restaurant_demand.markdown(restaurant_demand.run()),
    "delivery": lambda: restaurant_delivery.markdown(restaurant_delivery.run()),
    "delivery_splits": lambda: restaurant_delivery_splits.markdown(
        restaurant_delivery_splits.run()
    ),
    "clv": lambda: restaurant_clv.markdown(restaurant_clv.run_cdnow()),
    "latency": lambda: restaurant_latency.markdown(restaurant_latency.run()),
}


def part_file(name: str) -> Path:
    return HERE / f"restaurant_{name}.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    args = parser.parse_args(argv)
    for name in [p.strip() for p in args.parts.split(",") if p.strip()]:
        if name not in PARTS:
            parser.error(f"unknown part {name!r}; parts: {', '.join(PARTS)}")
        started = time.perf_counter()
        text = PARTS[name]()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        part_file(name).write_text(
            f"{text.strip()}\n\n_{name}: `python -m benchmarks.restaurant --parts {name}`, "
            f"{stamp}, {time.perf_counter() - started:.0f} s._\n"
        )
        print(text)
    body = [
        "## Restaurant",
        "",
        f"Machine: {machine()}. Command: `python -m benchmarks.restaurant` (or `make "
        "bench-restaurant`); each part below names the run it comes from. These machines "
        "are shared: timings are noisy, quality figures are not.",
        "",
    ]
    for name in PARTS:
        if part_file(name).exists():
            body += [part_file(name).read_text().strip(), ""]
    update_section("Restaurant", "\n".join(body))


if __name__ == "__main__":
    main()
