"""How fast a stream stores records, in process (issue 12's ingestion budget, plan S0.2).

``python -m benchmarks.stream_append [--records 50000] [--rounds 3] [--no-write]``

Appends ``--records`` records in batches of 1,000 (the ingestion endpoint's largest
batch) over 40 keys to a fresh stream of 8 partitions, on the embedded database backend
(SQLite, a file in a temporary folder) and on Redis Streams (the machine's Redis, its
own key prefix, deleted afterwards); a second pass appends the same records again, which
must store nothing (every idempotency key is known). Median records/s of ``--rounds``.
The HTTP ingestion benchmark (validation, the endpoint, two workers) comes with the app;
this bounds what storage alone allows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from benchmarks.results import machine, update_section
from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.stream_db import DatabaseStream
from foresight.platform.stream_redis import RedisStream
from foresight.platform.streams import Record, Stream

REDIS_URL = "redis://127.0.0.1:6379/0"
BATCH = 1000


def records(n: int, run: str) -> list[Record]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Record(
            "booking",
            f"region-{i % 40}",
            {"user": f"u{i % 997}", "product": "standard", "amount": 12.5},
            t0 + timedelta(milliseconds=i),
            f"{run}:{i}",
        )
        for i in range(n)
    ]


def rate(stream: Stream, rows: list[Record]) -> tuple[float, int]:
    started, created = time.perf_counter(), 0
    for i in range(0, len(rows), BATCH):
        created += sum(stream.append(rows[i : i + BATCH]))
    return len(rows) / (time.perf_counter() - started), created


def run(n: int, rounds: int) -> dict[str, Any]:
    out: dict[str, list[float]] = {}
    client = redis.Redis.from_url(REDIS_URL)
    for _ in range(rounds):
        run_id = uuid.uuid4().hex[:8]
        rows = records(n, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            migrate.upgrade(db, [])
            streams: dict[str, Stream] = {"database (SQLite)": DatabaseStream(db, "bench", 8)}
            prefix = f"bench-{run_id}:"
            streams["redis"] = RedisStream(client, "bench", 8, prefix=prefix)
            try:
                for name, stream in streams.items():
                    first, created = rate(stream, rows)
                    again, repeated = rate(stream, rows)
                    assert created == n and repeated == 0, (name, created, repeated)
                    out.setdefault(f"{name}: new", []).append(first)
                    out.setdefault(f"{name}: all duplicates", []).append(again)
            finally:
                db.dispose()
                for key in client.scan_iter(match=f"{prefix}*"):
                    client.delete(key)
    client.close()
    return {
        "records": n,
        "rounds": rounds,
        "rows": {k: statistics.median(v) for k, v in out.items()},
    }


def markdown(r: dict[str, Any], command: str) -> str:
    lines = [
        "## Streams: append throughput in process",
        "",
        f"{machine()}; {datetime.now(UTC):%Y-%m-%d}; `{command}`.",
        "",
        f"{r['records']:,} records in batches of {BATCH:,} over 40 keys, 8 partitions; median "
        f"of {r['rounds']} rounds. Targets of issue 12 (over HTTP, with validation): 5,000/s "
        "embedded, 20,000/s with Redis and two workers.",
        "",
        "| backend: records | records/s |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:,.0f} |" for name, value in r["rows"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    text = markdown(
        run(args.records, args.rounds),
        f"python -m benchmarks.stream_append --records {args.records} --rounds {args.rounds}",
    )
    print(text)
    if not args.no_write:
        update_section("Stream append", text)


if __name__ == "__main__":
    main()
