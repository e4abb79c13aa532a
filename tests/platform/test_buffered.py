"""Write-behind inserts: refused rows set aside, the spool survives crashes and odd
values, and the writer thread survives surprises."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import CheckConstraint, Column, Float, Integer, MetaData, String, Table, select

from foresight.platform.db.base import UTCDateTime
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.db.engine import Database

META = MetaData()
READINGS = Table(
    "readings",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False),
    Column("value", Float, CheckConstraint("value >= 0", name="value_not_negative")),
    Column("n", Integer),
    Column("at", UTCDateTime()),
)
AWAY_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens there


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(db_url, spool_dir=tmp_path / "spool")
    META.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def away(tmp_path: Path) -> Iterator[Database]:
    """A database that cannot be reached, spooling to the same directory as ``db``."""
    database = Database(AWAY_URL, spool_dir=tmp_path / "spool")
    yield database
    database.dispose()


def stored(db: Database) -> list[tuple[str, float | None, int | None]]:
    with db.session() as s:
        rows = s.execute(select(READINGS.c.name, READINGS.c.value, READINGS.c.n)).all()
    return sorted((r.name, r.value, r.n) for r in rows)


def writer(db: Database, *, interval: float = 3600.0) -> BufferedWriter:
    return BufferedWriter(db, READINGS, interval=interval)


def test_refused_rows_are_set_aside_and_the_good_ones_inserted(db: Database) -> None:
    w = writer(db)
    for i in range(10):
        w.add({"name": f"r{i}", "value": float(i), "n": i})
    w.add({"name": None, "value": 1.0, "n": 10})  # NOT NULL
    w.add({"name": "neg", "value": -1.0, "n": 11})  # CHECK
    assert w.flush() == 10
    assert [r[0] for r in stored(db)] == sorted(f"r{i}" for i in range(10))
    assert not w.spooled_files()  # nothing waits to be retried
    (bad,) = w.set_aside_files()
    refused = [json.loads(line) for line in bad.read_text().splitlines()]
    assert sorted(r["row"]["n"] for r in refused) == [10, 11]
    assert all(r["error"] for r in refused)
    w.add({"name": "later", "value": 2.0, "n": 12})
    assert w.flush() == 1  # the writer goes on
    w.close()


def test_numpy_and_other_values_are_spooled_and_written_back(db: Database, away: Database) -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    row = {"name": "np", "value": np.float32(1.5), "n": np.int64(7), "at": at}
    odd = {"name": Decimal("2.5"), "value": np.float64(2.0), "n": np.int32(8)}
    down = writer(away)
    down.add(row)
    down.add(odd)
    assert down.flush() == 0
    assert len(down.spooled_files()) == 1
    down.close()
    up = writer(db)
    assert up.flush() == 2
    assert stored(db) == [("2.5", 2.0, 8), ("np", 1.5, 7)]
    with db.session() as s:
        assert s.scalar(select(READINGS.c.at).where(READINGS.c.n == 7)) == at
    assert not up.spooled_files() and not up.set_aside_files()
    up.add({"name": "direct", "value": np.float64(3.0), "n": np.int64(9)})
    assert up.flush() == 1  # NumPy values go in directly too, not set aside
    assert not up.set_aside_files()
    up.close()


def test_a_file_left_claimed_by_a_crashed_process_is_drained_later(
    db: Database, away: Database
) -> None:
    down = writer(away)
    down.add({"name": "orphan", "value": 1.0, "n": 1})
    down.flush()
    (spooled,) = down.spooled_files()
    down.close()
    stem = spooled.name.removesuffix(".jsonl")
    # A process claimed it ten minutes ago and died before inserting it.
    stale = spooled.rename(spooled.with_name(f"{stem}.claimed-{time.time() - 600:.0f}-1-dead"))
    # Another live process claimed its own file a moment ago: that one is left alone.
    live = stale.with_name(f"readings--2-live-1.claimed-{time.time():.0f}-2-live")
    live.write_text(json.dumps({"name": "in-flight", "value": 1.0, "n": 2}) + "\n")
    up = writer(db)
    assert up.flush() == 1
    assert stored(db) == [("orphan", 1.0, 1)]
    assert up.spooled_files() == [live]
    up.close()


def test_an_unreadable_spool_file_is_set_aside_not_retried(db: Database) -> None:
    assert db.spool_dir is not None
    db.spool_dir.mkdir(parents=True)
    (db.spool_dir / "readings--3-torn-1.jsonl").write_text('{"name": "ok"}\n{"name": tr\n')
    w = writer(db)
    assert w.flush() == 0
    assert not w.spooled_files()
    assert [p.name for p in w.set_aside_files()] == ["readings--3-torn-1.bad.jsonl"]
    w.close()


def test_the_writer_thread_survives_an_unexpected_error(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = writer(db, interval=0.05)
    drain = w._drain_spool
    calls = {"n": 0}

    def failing_once() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("spool directory unreadable")
        return drain()

    monkeypatch.setattr(w, "_drain_spool", failing_once)
    w.add({"name": "a", "value": 1.0, "n": 1})
    deadline = time.monotonic() + 10
    while not stored(db):
        assert time.monotonic() < deadline, "the writer thread stopped writing"
        time.sleep(0.05)
    assert w._thread.is_alive()
    w.close()
