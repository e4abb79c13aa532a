"""The pricing consumer through the platform's runner: closed windows and feature rows
equal one clean in-memory pass, with batches that fail, a process that restarts and
loses its memory, on the database and on Redis Streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from foresight.apps import pricing
from foresight.apps.pricing.consumer import VIEW, WindowConsumer, event_of
from foresight.apps.pricing.features import Minute, RegionState
from foresight.apps.pricing.tables import WindowRow
from foresight.apps.pricing.windows import PartitionWindows
from foresight.platform.apps import ConsumerSpec
from foresight.platform.db import migrate
from foresight.platform.feature_store import OfflineStore
from foresight.platform.online_store import MemoryOnlineStore
from foresight.platform.runtime import Platform
from foresight.platform.stream_runner import ConsumerRunner
from foresight.platform.streams import Record, partition_of
from tests.conftest import REDIS_URL, make_settings

PARTS, STREAM = 4, "pricing.events"
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
REGIONS = ("north", "south", "east")


@pytest.fixture(params=["database", "redis"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    extra: dict[str, object] = {}
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        extra = {"redis_url": REDIS_URL, "redis_prefix": prefix, "stream_backend": "redis"}
    p = Platform.create(make_settings(tmp_path, **extra))
    folder = Path(pricing.__file__).parent / "migrations"
    migrate.upgrade(p.db, [*(a.migrations for a in p.apps), folder])
    yield p
    p.close()


def payloads(seed: int = 3, minutes: int = 150) -> list[dict[str, Any]]:
    """Searches, bookings and cancels at a daily-ish rate, supply every 30 s, 2 % late
    within the minute of lateness and 0.5 % later than that, in arrival order."""
    rng = np.random.default_rng(seed)
    out: list[tuple[float, dict[str, Any]]] = []
    for r, region in enumerate(REGIONS):
        for m in range(minutes):
            rate = (2 + r) * (1 + np.sin(m / 40))
            for kind, share in (("search", 1.0), ("booking", 0.3), ("cancel", 0.03)):
                for _ in range(rng.poisson(rate * share)):
                    t = m * 60 + rng.uniform(0, 60)
                    delay = rng.choice(
                        [0, rng.uniform(1, 50), rng.uniform(70, 200)], p=[0.975, 0.02, 0.005]
                    )
                    out.append((t + delay, {"event_type": kind, "t": t, "region_id": region}))
            for half in (0, 30):
                available, busy = int(rng.integers(5, 40)), int(rng.integers(0, 40))
                body = {"event_type": "supply_update", "t": m * 60 + half, "region_id": region}
                out.append((m * 60 + half, body | {"available": available, "busy": busy}))
    out.sort(key=lambda x: x[0])
    events = []
    for i, (_, body) in enumerate(out):
        t = body.pop("t")
        body["timestamp"] = (T0 + timedelta(seconds=float(t))).isoformat()
        body["event_id"] = f"ev-{i}"
        events.append(body)
    return events


def append(platform: Platform, events: list[dict[str, Any]]) -> None:
    stream = platform.stream(STREAM, PARTS)
    records = [Record(e["event_type"], e["region_id"], e, T0, e["event_id"]) for e in events]
    for i in range(0, len(records), 97):
        stream.append(records[i : i + 97])


def reference(events: list[dict[str, Any]]) -> tuple[set[tuple], dict[tuple, dict]]:
    """One clean pass: each partition's events in order, windows, then features."""
    windows: set[tuple] = set()
    rows: dict[tuple, dict] = {}
    states: dict[str, RegionState] = {}
    for part in range(PARTS):
        pw = PartitionWindows(lateness_ms=60_000)
        for i, e in enumerate(events):
            if partition_of(e["region_id"], PARTS) != part:
                continue
            for w in pw.apply(event_of(e, (i, 0))):
                supply = (w.supply[3], w.supply[4]) if w.supply else (None, None)
                windows.add(
                    (
                        w.region,
                        w.size // 1000,
                        w.start // 1000,
                        w.searches,
                        w.bookings,
                        w.cancels,
                        *supply,
                    )
                )
                if w.size == 60_000:
                    state = states.setdefault(w.region, RegionState())
                    values = state.step(
                        Minute(w.start // 60_000, w.searches, w.bookings, w.cancels, *supply)
                    )
                    rows[(w.region, w.end // 1000)] = values
    return windows, rows


def stored(platform: Platform) -> tuple[set[tuple], dict[tuple, dict]]:
    with platform.db.session() as session:
        found = session.execute(select(WindowRow.__table__)).all()
    windows = {
        (w.region_id, w.size_s, int(w.start.timestamp()), w.searches, w.bookings, w.cancels,
         w.supply_available, w.supply_busy)
        for w in found
    }  # fmt: skip
    frame = OfflineStore(platform.db).read(VIEW)
    rows = {}
    for rec in frame.to_dict("records"):
        values = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        key = (values.pop("entity"), int(values.pop("event_time").timestamp()))
        values.pop("available_at")
        rows[key] = values
    return windows, rows


def run(
    platform: Platform, consumer: WindowConsumer, handle: Callable[..., Any], owner: str
) -> ConsumerRunner:
    spec = ConsumerSpec(
        "features", STREAM, PARTS, handle, on_acquire=consumer.on_acquire, batch=53, block_ms=0
    )
    runner = ConsumerRunner(
        platform, platform.app("tips"), spec, owner=owner, sleep=lambda s: False
    )
    idle = 0
    while idle < 3:
        idle = idle + 1 if runner.run_once() == 0 else 0
    return runner


def test_windows_and_features_are_those_of_one_clean_pass(platform: Platform) -> None:
    events = payloads()
    half = len(events) // 2
    append(platform, events[:half])
    offline, online = OfflineStore(platform.db), MemoryOnlineStore()

    calls = [0]
    first = WindowConsumer(offline, online, partitions=PARTS)

    def flaky(platform: Platform, session: Any, part: int, entries: list) -> Any:
        calls[0] += 1
        after = first.handle(platform, session, part, entries)
        if calls[0] % 7 == 3:
            raise RuntimeError("fails after writing: the batch must not count")
        return after

    one = run(platform, first, flaky, "first")
    one.stop()  # the process ends; a new one, without its memory, takes the rest
    append(platform, events[half:])
    second = WindowConsumer(offline, online, partitions=PARTS)
    run(platform, second, second.handle, "second")
    want_windows, want_rows = reference(events)
    got_windows, got_rows = stored(platform)
    assert got_windows == want_windows and len(want_windows) > 500
    assert got_rows.keys() == want_rows.keys()
    for key, values in want_rows.items():
        assert got_rows[key] == values, key
    newest = online.read(VIEW, "north")
    assert (
        newest is not None
        and newest.values == want_rows[max(k for k in want_rows if k[0] == "north")]
    )
