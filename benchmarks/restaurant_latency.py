"""Latency of every restaurant prediction endpoint over HTTP: one uvicorn worker with the
cache on, one with it off (``FORESIGHT_RESTAURANT_CACHE_ENABLED=false``, so every request
computes its answer), wrk from a second process at 1 and 8 connections.

    python -m benchmarks.restaurant_latency [--seconds 6] [--weeks 16]

The data is the demo RMS (the last ``--weeks`` weeks of the pizza year) with every
restaurant model trained. The issue's target: a cached answer's p99 under 5 ms at one
connection. The two servers are measured in alternating rounds so that noise from other
tenants of this shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from benchmarks.run import ROOT, free_port, run_wrk, wait_http
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings
from foresight.platform.training import no_progress

TARGET_P99_MS = 5.0
PART = Path(__file__).resolve().parent / "restaurant_latency.md"
CONNECTIONS = (1, 8)


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # with its query string
    body: dict[str, Any] | None = None  # POST body; None: GET


def prepare(data_dir: Path, weeks: int) -> None:
    """Build the demo RMS and train every restaurant model into ``data_dir``."""

    os.environ["FORESIGHT_RESTAURANT_DEMO_WEEKS"] = str(weeks)
    platform = Platform.create(Settings(data_dir=data_dir, tuning_seconds=60.0))
    try:
        app = platform.app("restaurant")
        app.load_demo(platform, no_progress)
        for spec in app.models():
            started = time.perf_counter()
            outcome = spec.train(platform, no_progress)
            print(
                f"trained {outcome.version.label} in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    finally:
        platform.close()


def endpoints(base: str, headers: dict[str, str]) -> list[Endpoint]:
    """One request per endpoint, chosen from what the trained demo serves."""
    menu = httpx.get(f"{base}/api/v1/restaurant/menu", headers=headers, timeout=60).json()
    first = menu["forecast_from"]
    item = menu["items"][0]
    customers = httpx.get(
        f"{base}/api/v1/restaurant/customers", params={"limit": 1}, headers=headers, timeout=60
    ).json()["customers"]
    line = {"item_id": item["item_id"], "size": (item.get("sizes") or [None])[0], "quantity": 2}
    line = {k: v for k, v in line.items() if v is not None}
    evening = f"{first}T19:00:00"
    out = [
        Endpoint(
            "demand, hourly orders, 1 day",
            "/api/v1/restaurant/demand?"
            + urlencode({"start": first, "end": first, "granularity": "hour", "measure": "orders"}),
        ),
        Endpoint(
            "demand, daily items of a category, 7 days",
            "/api/v1/restaurant/demand?"
            + urlencode(
                {"start": first, "end": _plus_days(first, 6), "category": menu["categories"][0]}
            ),
        ),
        Endpoint(
            "kitchen (POST, basket of 2 lines)",
            "/api/v1/restaurant/kitchen",
            {"items": [line, {**line, "quantity": 1}], "ordered_at": evening},
        ),
        Endpoint(
            "kitchen (GET, one item)",
            "/api/v1/restaurant/kitchen?"
            + urlencode(
                {
                    "item_id": item["item_id"],
                    "ordered_at": evening,
                    **({"size": line["size"]} if "size" in line else {}),
                }
            ),
        ),
        Endpoint(
            "delivery",
            "/api/v1/restaurant/kitchen/delivery",
            {"hour": 19.5, "day": "Fri", "distance": 4.2, "item_count": 3},
        ),
        Endpoint("inventory (every ingredient)", "/api/v1/restaurant/inventory"),
    ]
    if customers:
        out.append(
            Endpoint("customer", f"/api/v1/restaurant/customer/{customers[0]['customer_id']}")
        )
    return out


def _plus_days(day: str, n: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=n)).isoformat()


def serve(data_dir: Path, cache: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "FORESIGHT_DATA_DIR": str(data_dir),
        "FORESIGHT_RATE_LIMIT": "100000000/minute",
        "FORESIGHT_LOG_LEVEL": "WARNING",
        "FORESIGHT_SCHEDULER": "false",
        "FORESIGHT_RESTAURANT_CACHE_ENABLED": "true" if cache else "false",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "foresight.api.main:app_factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    return proc, f"http://127.0.0.1:{port}"


def measure(data_dir: Path, seconds: int, rounds: int) -> dict[str, Any]:

    platform = Platform.create(Settings(data_dir=data_dir))
    key, _ = platform.keys.create(name="bench-latency", role="analyst")  # predict and read
    platform.close()
    headers = {"X-API-Key": key}
    servers = {"cached": serve(data_dir, True), "uncached": serve(data_dir, False)}
    results: dict[str, Any] = {}
    try:
        for _, base in servers.values():
            wait_http(f"{base}/live")
        chosen = endpoints(servers["cached"][1], headers)
        for ep in chosen:
            for mode, (_, base) in servers.items():  # check, then warm (model load, cache)
                r = httpx.request(
                    "POST" if ep.body else "GET",
                    base + ep.path,
                    json=ep.body,
                    headers=headers,
                    timeout=120,
                )
                if r.status_code != 200:
                    raise RuntimeError(f"{mode} {ep.name}: {r.status_code} {r.text[:300]}")
                run_wrk(base + ep.path, ep.body, headers, 1, connections=1)
            for conns in CONNECTIONS:
                samples: dict[str, list[dict[str, float]]] = {"cached": [], "uncached": []}
                for _ in range(rounds):
                    for mode, (_, base) in servers.items():
                        samples[mode].append(
                            run_wrk(base + ep.path, ep.body, headers, seconds, connections=conns)
                        )
                for mode, runs in samples.items():
                    results[f"{ep.name}|{mode}|{conns}"] = _median(runs)
                print(ep.name, conns, {m: _median(r) for m, r in samples.items()}, flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    return {
        "results": results,
        "endpoints": [e.name for e in chosen],
        "rounds": rounds,
        "seconds": seconds,
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = runs[0].keys()
    return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in keys}


def markdown(data: dict[str, Any]) -> str:
    """The latency part of the "Restaurant" section."""
    res = data["results"]
    lines = [
        "### Latency (one uvicorn worker, wrk from a second process)",
        "",
        f"Median of {data['rounds']} alternating rounds of {data['seconds']} s per cell; "
        "`cached` is the default server (answers kept per the seed's keys and TTLs, dropped "
        "on new RMS rows), `uncached` runs with `FORESIGHT_RESTAURANT_CACHE_ENABLED=false`, "
        "so each request computes its answer from the trained model and the mirror. "
        f"Target: cached p99 < {TARGET_P99_MS:g} ms at one connection.",
        "",
        "| endpoint | cached c1 p50 / p99 ms | cached c8 p99 ms, req/s | uncached c1 p50 / p99 ms "
        "| uncached c8 p99 ms, req/s | cached c1 p99 < 5 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in data["endpoints"]:
        c1, c8 = res[f"{name}|cached|1"], res[f"{name}|cached|8"]
        u1, u8 = res[f"{name}|uncached|1"], res[f"{name}|uncached|8"]
        ok = "yes" if c1["p99_ms"] < TARGET_P99_MS else "**no**"
        lines.append(
            f"| {name} | {c1['p50_ms']:.2f} / {c1['p99_ms']:.2f} | {c8['p99_ms']:.2f}, "
            f"{c8['rps']:,.0f} | {u1['p50_ms']:.2f} / {u1['p99_ms']:.2f} | "
            f"{u8['p99_ms']:.2f}, {u8['rps']:,.0f} | {ok} |"
        )
    return "\n".join(lines)


def run(
    seconds: int = 6, rounds: int = 3, weeks: int = 16, data_dir: Path | None = None
) -> dict[str, Any]:
    """Prepare a trained demo in a scratch directory (or reuse ``data_dir`` if it holds
    one, else prepare it there) and measure every endpoint."""
    if data_dir is not None:
        if not (data_dir / "restaurant" / "rms.sqlite").exists():
            prepare(data_dir, weeks)
        return measure(data_dir, seconds, rounds)
    with tempfile.TemporaryDirectory(prefix="foresight-latency-") as tmp:
        prepare(Path(tmp), weeks)
        return measure(Path(tmp), seconds, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="wrk duration per cell and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=16, help="weeks of the pizza year")
    parser.add_argument(
        "--data-dir", type=Path, help="keep (or reuse) the trained demo here, not in /tmp"
    )
    parser.add_argument(
        "--write-part",
        action="store_true",
        help=f"also write {PART.name} (`python -m benchmarks.restaurant --parts ''` then "
        "rebuilds RESULTS.md's Restaurant section from the part files)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    text = markdown(run(args.seconds, args.rounds, args.weeks, args.data_dir))
    print(text)
    if args.write_part:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        PART.write_text(
            f"{text.strip()}\n\n_latency: `python -m benchmarks.restaurant_latency "
            f"--write-part --seconds {args.seconds} --rounds {args.rounds} --weeks "
            f"{args.weeks}`, {stamp}, {time.perf_counter() - started:.0f} s._\n"
        )


if __name__ == "__main__":
    main()
