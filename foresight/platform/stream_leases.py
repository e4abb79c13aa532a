"""Which consumer owns which partition of a stream, and how far each partition got.

One row per (stream, group, partition) holds the checkpoint and the lease. A consumer
*acquires* free or expired partitions up to its fair share (⌈partitions / live members⌉,
a member being a consumer that acquired within its lease, holding partitions or not);
one over its share gives the rest back on its next acquire; taking a partition bumps its
``epoch``. A consumer *commits* a checkpoint as the first
statement of the transaction that also writes the state it derived from the records:

    UPDATE stream_partitions SET position WHERE … AND owner = me AND epoch = mine

Zero rows updated means the lease was taken over (the consumer stalled past its lease):
``LeaseLost`` is raised, the caller's transaction rolls back, and the new owner reads the
records again from the last good checkpoint. That fencing is what makes at-least-once
delivery give exactly-once state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    SmallInteger,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.platform.db.base import Base, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict, InvalidInput
from foresight.platform.event_units import MAX_KEY, MAX_STREAM, check_text
from foresight.platform.streams import Position, check_partitions, check_positions


class StreamPartitionRow(Base):
    __tablename__ = "stream_partitions"

    stream: Mapped[str] = mapped_column(String(MAX_STREAM), primary_key=True)
    grp: Mapped[str] = mapped_column(String(MAX_STREAM), primary_key=True)
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    major: Mapped[int] = mapped_column(BigInteger, default=0)
    minor: Mapped[int] = mapped_column(BigInteger, default=0)
    owner: Mapped[str | None] = mapped_column(String(MAX_KEY), nullable=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StreamMemberRow(Base):
    """A consumer of a group that is alive (it acquired within its lease), holding
    partitions or waiting for its share: the fair share counts these."""

    __tablename__ = "stream_members"

    stream: Mapped[str] = mapped_column(String(MAX_STREAM), primary_key=True)
    grp: Mapped[str] = mapped_column(String(MAX_STREAM), primary_key=True)
    owner: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaseLost(Conflict):
    """Another consumer took the partition over; this consumer's work on it is void."""


class CheckpointMoved(Conflict):
    """The checkpoint is not where the lease said (a commit whose reply was lost):
    ``position`` is the stored one, to read on from."""

    def __init__(self, partition: int, position: Position) -> None:
        super().__init__(f"checkpoint of partition {partition} is already at {position}")
        self.partition, self.position = partition, position


@dataclass(frozen=True, slots=True)
class Lease:
    """A partition held by ``owner`` at ``epoch``; ``position`` is its checkpoint when the
    lease was taken or last renewed."""

    partition: int
    owner: str
    epoch: int
    position: Position


class Leases:
    """Leases and checkpoints of ``group`` on stream ``stream`` (``partitions`` of them)."""

    def __init__(
        self,
        db: Database,
        stream: str,
        group: str,
        partitions: int,
        *,
        lease_seconds: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        check_text(stream, "stream name", MAX_STREAM)
        check_text(group, "consumer group", MAX_STREAM)
        check_partitions(partitions)
        if not lease_seconds > 0:
            raise InvalidInput(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.db, self.stream, self.group, self.partitions = db, stream, group, partitions
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        dialect = db.engine.dialect.name
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        self._created = False

    def _ensure_rows(self, session: Session) -> None:
        """Insert the group's partition rows once (the flag is set after the commit)."""
        if self._created:
            return
        now = self.clock()
        rows = [
            {"stream": self.stream, "grp": self.group, "part": p, "major": 0, "minor": 0,
             "epoch": 0, "updated_at": now}
            for p in range(self.partitions)
        ]  # fmt: skip
        session.execute(self._insert(_T).on_conflict_do_nothing(), rows)

    def _mine(self) -> tuple[ColumnElement[bool], ...]:
        # Rows past ``partitions`` (a stream that shrank) are no one's.
        return (_T.c.stream == self.stream, _T.c.grp == self.group, _T.c.part < self.partitions)

    def acquire(self, owner: str) -> list[Lease]:
        """Claim free or expired partitions up to ``owner``'s fair share, give back any it
        holds beyond it, extend the rest; every lease ``owner`` now holds, by partition.

        Partitions a live owner holds are never taken: a stalled owner loses them only
        when its lease runs out, and then its next commit fails (``LeaseLost``). Every
        claim bumps the epoch, a lapsed lease of ``owner``'s own too: another process
        with the same owner name (a restart on the same host) must not share an epoch.
        Core statements throughout: nothing is read from a stale session cache.
        """
        check_text(owner, "owner", MAX_KEY)
        c = _T.c
        now = self.clock()
        expires = now + self.lease
        with self.db.session() as session:
            self._ensure_rows(session)
            share = math.ceil(self.partitions / self._members(session, owner, now, expires))
            live = and_(c.owner.is_not(None), c.lease_expires_at >= now)
            rows = session.execute(
                select(c.part, c.owner, live.label("live")).where(*self._mine()).order_by(c.part)
            ).all()
            held = [r.part for r in rows if r.owner == owner and r.live]
            free = [r.part for r in rows if not r.live]
            keep, give_back = held[:share], held[share:]
            if give_back:
                session.execute(
                    update(_T)
                    .where(*self._mine(), c.part.in_(give_back), c.owner == owner)
                    .values(owner=None, lease_expires_at=None, updated_at=now)
                )
            if keep:
                session.execute(
                    update(_T)
                    .where(*self._mine(), c.part.in_(keep), c.owner == owner)
                    .values(lease_expires_at=expires, updated_at=now)
                )
            for part in free:
                if len(keep) >= share:
                    break
                # Conditional on the row still being free: two owners racing for one
                # partition cannot both get it.
                claimed = session.execute(
                    update(_T)
                    .where(
                        *self._mine(),
                        c.part == part,
                        or_(c.owner.is_(None), c.lease_expires_at.is_(None),
                            c.lease_expires_at < now),
                    )
                    .values(owner=owner, epoch=c.epoch + 1, lease_expires_at=expires,
                            updated_at=now)
                )  # fmt: skip
                if claimed.rowcount:  # type: ignore[attr-defined]
                    keep.append(part)
            mine = session.execute(
                select(c.part, c.epoch, c.major, c.minor)
                .where(*self._mine(), c.owner == owner, c.part.in_(keep))
                .order_by(c.part)
            ).all()
        self._created = True
        return [Lease(r.part, owner, r.epoch, (r.major, r.minor)) for r in mine]

    def _members(self, session: Session, owner: str, now: datetime, expires: datetime) -> int:
        """Renew ``owner``'s membership; how many members are alive, ``owner`` included."""
        m = StreamMemberRow
        row = {"stream": self.stream, "grp": self.group, "owner": owner, "expires_at": expires}
        stmt = self._insert(m).values(row)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["stream", "grp", "owner"], set_={"expires_at": expires}
            )
        )
        mine = (m.stream == self.stream, m.grp == self.group)
        session.execute(delete(m).where(*mine, m.expires_at < now))
        return int(session.scalar(select(func.count()).select_from(m).where(*mine)) or 1)

    def release(self, owner: str, partitions: list[int] | None = None) -> None:
        """Give ``partitions`` back (with None every one, and leave the group), e.g. on
        a clean shutdown."""
        c, m = _T.c, StreamMemberRow
        query = update(_T).where(*self._mine(), c.owner == owner)
        if partitions is not None:
            query = query.where(c.part.in_(partitions))
        with self.db.session() as session:
            session.execute(
                query.values(owner=None, lease_expires_at=None, updated_at=self.clock())
            )
            if partitions is None:
                session.execute(
                    delete(m).where(m.stream == self.stream, m.grp == self.group, m.owner == owner)
                )

    def commit(self, session: Session, lease: Lease, position: Position) -> None:
        """Move ``lease``'s checkpoint from ``lease.position`` to ``position`` inside the
        caller's transaction, and extend the lease (a long batch must not lose it).

        Run it first in that transaction. It is a compare-and-set on the old position:
        ``LeaseLost`` if the lease was taken over; ``CheckpointMoved`` (with the stored
        position) if the checkpoint is not where the lease says, e.g. after a commit whose
        reply was lost, so the same records are never applied twice; an ``InvalidInput``
        for a position before the old one.
        """
        check_positions({lease.partition: position}, self.partitions)
        if position < lease.position:
            raise InvalidInput(
                f"checkpoint of partition {lease.partition} is at {lease.position}; "
                f"it does not move back to {position}"
            )
        c = _T.c
        major, minor = position
        fenced = and_(*self._mine(), c.part == lease.partition)
        now = self.clock()
        moved = session.execute(
            update(_T)
            .where(
                fenced,
                c.owner == lease.owner,
                c.epoch == lease.epoch,
                c.major == lease.position[0],
                c.minor == lease.position[1],
            )
            .values(major=major, minor=minor, lease_expires_at=now + self.lease, updated_at=now)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            return
        row = session.execute(select(c.owner, c.epoch, c.major, c.minor).where(fenced)).first()
        if row is None or row.owner != lease.owner or row.epoch != lease.epoch:
            raise LeaseLost(
                f"partition {lease.partition} of {self.stream}/{self.group} was taken over"
            )
        raise CheckpointMoved(lease.partition, (row.major, row.minor))

    def positions(self) -> dict[int, Position]:
        """Every partition's checkpoint (``(0, 0)`` before any commit); reads only."""
        c = _T.c
        with self.db.session() as session:
            rows = session.execute(select(c.part, c.major, c.minor).where(*self._mine())).all()
        found = {part: (major, minor) for part, major, minor in rows}
        return {p: found.get(p, (0, 0)) for p in range(self.partitions)}

    def owners(self) -> dict[int, str | None]:
        """Each partition's live owner (None when free or expired), for ``/health``."""
        c = _T.c
        now = self.clock()
        with self.db.session() as session:
            rows = session.execute(
                select(c.part, c.owner, c.lease_expires_at).where(*self._mine())
            ).all()
        live = {
            r.part: (r.owner if r.owner is not None and r.lease_expires_at >= now else None)
            for r in rows
        }
        return {p: live.get(p) for p in range(self.partitions)}


_T = cast(Table, StreamPartitionRow.__table__)
