"""Partition leases and fenced checkpoints (``stream_leases``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select

from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import open_unit
from foresight.platform.stream_leases import CheckpointMoved, Lease, LeaseLost, Leases

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STATE = Table(
    "test_stream_state",
    MetaData(),
    Column("k", String(20), primary_key=True),
    Column("v", BigInteger),
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leases(db: Database, clock: Clock) -> Leases:
    with db.engine.begin() as conn:
        STATE.create(conn)
    return Leases(db, "ticks", "features", 8, lease_seconds=10, clock=clock)


def parts(held: list) -> list[int]:
    return [lease.partition for lease in held]


def test_two_owners_share_the_partitions_and_rebalance(leases: Leases, clock: Clock) -> None:
    assert parts(leases.acquire("a")) == list(range(8))  # alone: everything
    assert leases.acquire("b") == []  # nothing is free while a's leases live …
    assert parts(leases.acquire("a")) == [0, 1, 2, 3]  # … but a sees b and gives half back
    assert parts(leases.acquire("b")) == [4, 5, 6, 7]
    assert sorted(leases.owners().values()) == ["a"] * 4 + ["b"] * 4
    assert parts(leases.acquire("c")) == []  # a third: shares of 3 (⌈8/3⌉)
    assert parts(leases.acquire("a")) == [0, 1, 2]
    assert parts(leases.acquire("b")) == [4, 5, 6]
    assert parts(leases.acquire("c")) == [3, 7]
    leases.release("b")  # b stops cleanly: it leaves the group too
    assert parts(leases.acquire("a")) == [0, 1, 2, 4]
    assert parts(leases.acquire("c")) == [3, 5, 6, 7]
    clock.now += timedelta(seconds=11)  # c dies; a carries on
    assert parts(leases.acquire("a")) == list(range(8))


def test_a_stalled_owner_loses_its_partition_and_cannot_commit(
    db: Database, leases: Leases, clock: Clock
) -> None:
    old = leases.acquire("a")[0]
    clock.now += timedelta(seconds=11)  # a stalls past its lease
    new = leases.acquire("b")[0]
    assert (new.partition, new.epoch) == (old.partition, old.epoch + 1)
    with pytest.raises(LeaseLost, match="taken over"), open_unit(db) as unit:
        leases.commit(unit.session, old, (5, 0))  # first statement: the fence
        unit.session.execute(insert(STATE).values(k="zombie", v=5))
    with db.session() as session:
        assert session.execute(select(STATE)).all() == []  # its state rolled back with it
    with open_unit(db) as unit:
        leases.commit(unit.session, new, (5, 0))
        unit.session.execute(insert(STATE).values(k="owner", v=5))
    assert leases.positions()[new.partition] == (5, 0)
    # The old owner, back, gets nothing until b's lease lapses.
    assert old.partition not in parts(leases.acquire("a"))


def test_a_lapsed_lease_taken_back_by_its_owner_name_gets_a_new_epoch(
    db: Database, leases: Leases, clock: Clock
) -> None:
    # A restarted process on the same host may reuse the owner name while the old one
    # is only stalled: the two must not share an epoch, or both could commit.
    first = leases.acquire("a")[0]
    clock.now += timedelta(seconds=30)
    again = leases.acquire("a")[0]
    assert again.epoch == first.epoch + 1
    with pytest.raises(LeaseLost), open_unit(db) as unit:
        leases.commit(unit.session, first, (3, 0))


def test_a_checkpoint_only_moves_forward_and_only_from_where_it_is(
    db: Database, leases: Leases, clock: Clock
) -> None:
    lease = leases.acquire("a")[2]
    with open_unit(db) as unit:
        leases.commit(unit.session, lease, (9, 3))
    # The reply of that commit was lost: the consumer still holds the old position.
    # Committing the same records again must not pass (they would count twice).
    with pytest.raises(CheckpointMoved) as moved, open_unit(db) as unit:
        leases.commit(unit.session, lease, (9, 3))
    assert moved.value.position == (9, 3)
    on = Lease(2, "a", lease.epoch, (9, 3))
    with pytest.raises(InvalidInput, match="does not move back"), open_unit(db) as unit:
        leases.commit(unit.session, on, (9, 2))
    assert leases.positions()[2] == (9, 3)
    # A commit extends the lease: a batch longer than the lease keeps its partition.
    clock.now += timedelta(seconds=8)
    with open_unit(db) as unit:
        leases.commit(unit.session, on, (12, 0))
    clock.now += timedelta(seconds=8)  # 16 s after the acquire, 8 s after the commit
    assert leases.owners()[2] == "a"
    assert leases.acquire("a")[2].position == (12, 0)


def test_groups_and_streams_keep_their_own_checkpoints(db: Database, leases: Leases) -> None:
    other = Leases(db, "ticks", "audit", 8)
    lease = leases.acquire("a")[0]
    with open_unit(db) as unit:
        leases.commit(unit.session, lease, (4, 0))
    assert other.positions()[0] == (0, 0) and parts(other.acquire("a")) == list(range(8))


def test_bad_arguments_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="1 to 1024 partitions"):
        Leases(db, "s", "g", 0)
    with pytest.raises(InvalidInput, match="lease_seconds"):
        Leases(db, "s", "g", 2, lease_seconds=0)
    with pytest.raises(InvalidInput, match="consumer group"):
        Leases(db, "s", " ", 2)
