"""The feature store: online backends (memory, Redis) against one suite; the offline store's
point-in-time training set, proven on random timelines (hypothesis), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.feature_store import FeatureRow, FeatureView, OfflineStore
from foresight.platform.online_store import (
    MemoryOnlineStore,
    OnlineStore,
    RedisOnlineStore,
    online_store_from_kind,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VIEW = FeatureView("region_1m", "region_id", ("searches", "supply"), timedelta(seconds=120))
REDIS_URL = "redis://127.0.0.1:6379/0"


def row(entity: str, minute: float, searches: float, *, late: float = 0.0) -> FeatureRow:
    at = T0 + timedelta(minutes=minute)
    return FeatureRow(entity, at, at + timedelta(seconds=late), {"searches": searches})


class OnlineContract:
    """Subclasses give ``store`` and ``expire()``, which makes every written row older
    than the view's ttl."""

    def test_the_newest_row_is_served_and_an_older_one_never_replaces_it(
        self, store: OnlineStore
    ) -> None:
        store.write_many(VIEW, [row("a", 1, 10.0), row("a", 2, 20.0), row("b", 1, 5.0)])
        store.write_many(VIEW, [row("a", 1, 99.0)])  # a replayed, older row
        a, b, c = store.read_many(VIEW, ["a", "b", "c"])
        assert a is not None and a.values == {"searches": 20.0, "supply": None}
        assert a.event_time == T0 + timedelta(minutes=2)
        assert b is not None and b.values["searches"] == 5.0 and c is None
        again = store.read(VIEW, "b")
        assert again is not None and (again.values, again.event_time) == (b.values, b.event_time)
        assert again.age_seconds >= b.age_seconds > 0

    def test_a_row_expires_after_the_ttl(self, store: OnlineStore, expire: object) -> None:
        store.write_many(VIEW, [row("a", 1, 10.0)])
        expire()  # type: ignore[operator]
        assert store.read(VIEW, "a") is None

    def test_bad_rows_are_refused_and_nothing_is_written(self, store: OnlineStore) -> None:
        with pytest.raises(InvalidInput, match="no feature 'price'"):
            store.write_many(VIEW, [row("a", 1, 1.0), FeatureRow("b", T0, T0, {"price": 1.0})])
        with pytest.raises(InvalidInput, match="finite"):
            store.write_many(VIEW, [row("a", 1, float("nan"))])
        assert store.read_many(VIEW, ["a", "b"]) == [None, None]


class TestMemoryOnlineStore(OnlineContract):
    @pytest.fixture
    def now(self) -> list[float]:
        return [0.0]

    @pytest.fixture
    def store(self, now: list[float]) -> OnlineStore:
        return MemoryOnlineStore(clock=lambda: now[0])

    @pytest.fixture
    def expire(self, now: list[float]) -> object:
        return lambda: now.__setitem__(0, now[0] + 121)


class TestRedisOnlineStore(OnlineContract):
    @pytest.fixture
    def client(self, redis_client: redis.Redis) -> redis.Redis:
        return redis_client

    @pytest.fixture
    def store(self, client: redis.Redis, redis_prefix: str) -> OnlineStore:
        return RedisOnlineStore(client, prefix=redis_prefix)

    @pytest.fixture
    def expire(self, client: redis.Redis, redis_prefix: str) -> object:
        def run() -> None:  # Redis keeps its own time: shorten what is left to a millisecond
            for key in client.scan_iter(match=f"{redis_prefix}features:*"):
                client.pexpire(key, 1)
            import time

            time.sleep(0.01)

        return run

    def test_the_hash_expires_with_the_views_ttl(
        self, client: redis.Redis, redis_prefix: str, store: OnlineStore
    ) -> None:
        store.write_many(VIEW, [row("a", 1, 10.0)])
        ttl = client.pttl(f"{redis_prefix}features:region_1m:a")
        assert 110_000 < ttl <= 120_000


def test_online_backends_are_chosen_by_name() -> None:
    assert isinstance(online_store_from_kind("memory"), MemoryOnlineStore)
    with pytest.raises(InvalidInput, match="unknown online store backend 'dynamo'"):
        online_store_from_kind("dynamo")


def test_a_view_checks_its_definition() -> None:
    with pytest.raises(InvalidInput, match="distinct"):
        FeatureView("v", "e", ("x", "x"), timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="positive ttl"):
        FeatureView("v", "e", ("x",), timedelta(0))


# -- offline ----------------------------------------------------------------------------


@pytest.fixture
def offline(db: Database) -> OfflineStore:
    return OfflineStore(db)


def write(store: OfflineStore, rows: list[FeatureRow]) -> None:
    with store.db.session() as session:
        store.write(session, VIEW, rows)


def test_a_replayed_row_replaces_itself(offline: OfflineStore) -> None:
    write(offline, [row("a", 1, 1.0), row("a", 2, 2.0)])
    write(offline, [row("a", 2, 2.0)])  # the consumer replays after a crash
    frame = offline.read(VIEW, entities=["a"])
    assert frame["searches"].tolist() == [1.0, 2.0] and list(frame.columns)[:3] == [
        "entity",
        "event_time",
        "available_at",
    ]


def test_training_set_uses_only_what_was_available_and_fresh(offline: OfflineStore) -> None:
    # Rows every minute from 12:00, each available 30 s after its minute.
    write(offline, [row("a", m, float(m), late=30) for m in range(10)])
    labels = pd.DataFrame(
        {
            "region_id": ["a", "a", "a", "b"],
            "label_time": [
                T0 + timedelta(minutes=3, seconds=29),  # 12:03 not yet available: 12:02
                T0 + timedelta(minutes=3, seconds=30),  # exactly available: 12:03
                T0 + timedelta(minutes=30),  # newest row is 20 min old (> ttl): none
                T0 + timedelta(minutes=3),  # no rows for b
            ],
            "y": [1, 2, 3, 4],
        }
    )
    out = offline.training_set(VIEW, labels)
    assert out["y"].tolist() == [1, 2, 3, 4]  # the labels' order and columns are kept
    assert out["searches"].tolist()[:2] == [2.0, 3.0]
    assert out["searches"].isna().tolist()[2:] == [True, True]
    with pytest.raises(InvalidInput, match="'region_id'"):
        offline.training_set(VIEW, labels.drop(columns=["region_id"]))


timelines = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(0, 600),  # event second
        st.integers(0, 90),  # lateness, seconds
    ),
    min_size=0,
    max_size=25,
    unique_by=lambda t: (t[0], t[1]),
)
label_lists = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 800)), max_size=15)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=timelines, labels=label_lists)
def test_no_training_row_sees_its_future(offline: OfflineStore, rows: list, labels: list) -> None:
    view = FeatureView(
        f"pit_{abs(hash((tuple(rows), tuple(labels))))}",
        "region_id",
        ("v",),
        timedelta(seconds=120),
    )
    feature_rows = [
        FeatureRow(e, T0 + timedelta(seconds=s), T0 + timedelta(seconds=s + late), {"v": float(s)})
        for e, s, late in rows
    ]
    with offline.db.session() as session:
        offline.write(session, view, feature_rows)
    frame = pd.DataFrame(
        {
            "region_id": [e for e, _ in labels],
            "label_time": [T0 + timedelta(seconds=t) for _, t in labels],
        }
    )
    if frame.empty:
        return
    out = offline.training_set(view, frame)
    for (entity, t), got in zip(labels, out["v"].tolist(), strict=True):
        label_time = T0 + timedelta(seconds=t)
        seen = [
            r for r in feature_rows
            if r.entity == entity and r.available_at <= label_time
            and label_time - r.available_at <= view.ttl
        ]  # fmt: skip
        if not seen:
            assert pd.isna(got)
            continue
        newest = max(seen, key=lambda r: (r.available_at, r.event_time))
        assert got == newest.values["v"]
