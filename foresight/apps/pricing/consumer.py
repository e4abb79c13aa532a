"""The stream consumer of pricing events: windows, then features, exactly once.

``handle`` runs inside the platform runner's transaction (the partition's checkpoint
moves in it too). It restores the partition's open windows from
``pricing_partition_state``, applies the records in order (``windows.py``), stores the
windows that closed, steps each region's features (``features.py``) on every closed
minute and writes those rows to the offline store, then saves the open windows. After
the commit it writes each region's newest row to the online store.

The features need the last 7 days of a region's minutes, kept in memory. Memory is not
rolled back with a failed transaction, so a partition is marked *dirty* when a batch
starts and clean only after its commit; a dirty partition's regions are rebuilt from the
committed windows before the next batch (and on taking the partition over). So the rows
are the same whatever fails, which ``test_consumer.py`` checks against one clean pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foresight.apps.pricing.features import FEATURES, SPAN, Minute, RegionState
from foresight.apps.pricing.tables import PartitionStateRow, WindowRow
from foresight.apps.pricing.windows import Event, PartitionWindows, Window
from foresight.platform.feature_store import FeatureRow, FeatureView, OfflineStore
from foresight.platform.online_store import OnlineStore
from foresight.platform.streams import Entry, partition_of

VIEW = FeatureView("pricing_region_1m", "region_id", FEATURES, ttl=timedelta(seconds=120))
_W = cast(Table, WindowRow.__table__)
_S = cast(Table, PartitionStateRow.__table__)


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def event_of(
    payload: dict[str, Any], position: tuple[int, int], recorded: datetime | None = None
) -> Event:
    """What the windows read of a stored pricing event (``recorded``: when the stream
    stored it)."""
    return Event(
        t=_ms(payload["timestamp"]),
        region=payload["region_id"],
        kind=payload["event_type"],
        position=position,
        available=int(payload.get("available", 0)),
        busy=int(payload.get("busy", 0)),
        recorded=None if recorded is None else int(recorded.timestamp() * 1000),
    )


class WindowConsumer:
    """The ``handle`` and ``on_acquire`` of the pricing consumer, with its memory."""

    def __init__(
        self,
        offline: OfflineStore,
        online: OnlineStore | None,
        *,
        partitions: int,
        lateness_s: int = 60,
    ) -> None:
        self.offline, self.online = offline, online
        self.partitions, self.lateness_ms = partitions, lateness_s * 1000
        self.regions: dict[str, RegionState] = {}
        self.dirty: set[int] = set()

    def on_acquire(self, platform: Any, part: int) -> None:
        self.dirty.add(part)  # rebuilt from committed rows before its first batch

    def handle(
        self, platform: Any, session: Session, part: int, entries: list[Entry]
    ) -> Callable[[], None]:
        if part in self.dirty or not self._loaded(part):
            self._rebuild(session, part)
        self.dirty.add(part)  # until this batch commits
        row = session.get(PartitionStateRow, part)
        state = (
            PartitionWindows.restore(row.state)
            if row is not None
            else PartitionWindows(lateness_ms=self.lateness_ms)
        )
        closed: list[Window] = []
        for entry in entries:
            for record in entry.records:
                event = event_of(record.payload, entry.position, record.recorded_at)
                if partition_of(event.region, self.partitions) != part:
                    raise ValueError(f"record key {record.key!r} is not its region's")
                closed += state.apply(event)
        self._store_windows(session, closed)
        features = self._features(closed)
        self.offline.write(session, VIEW, features)
        stmt = _insert(session)(_S).values(part=part, state=state.snapshot())
        session.execute(
            stmt.on_conflict_do_update(index_elements=["part"], set_={"state": stmt.excluded.state})
        )
        newest = {f.entity: f for f in features}

        def after_commit() -> None:
            self.dirty.discard(part)
            if self.online is not None and newest:
                self.online.write_many(VIEW, list(newest.values()))

        return after_commit

    # -- state -----------------------------------------------------------------------
    def _loaded(self, part: int) -> bool:
        return part not in self.dirty and any(
            partition_of(r, self.partitions) == part for r in self.regions
        )

    def _rebuild(self, session: Session, part: int) -> None:
        """Each region of ``part``: its first minute and its last 7 days, from the
        committed one-minute windows (``step`` on each, as the first pass did)."""
        one = _W.c.size_s == 60
        regions = session.execute(
            select(_W.c.region_id, func.min(_W.c.start), func.max(_W.c.start))
            .where(one)
            .group_by(_W.c.region_id)
        ).all()
        for region in [r for r in self.regions if partition_of(r, self.partitions) == part]:
            del self.regions[region]
        for region, first, last in regions:
            if partition_of(region, self.partitions) != part:
                continue
            since = last - timedelta(minutes=SPAN - 1)
            rows = session.execute(
                select(_W).where(one, _W.c.region_id == region, _W.c.start >= since)
                .order_by(_W.c.start)
            ).all()  # fmt: skip
            state = RegionState(first=_minute(first))
            for w in rows:
                state.step(_minute_of(w))
            self.regions[region] = state

    def _store_windows(self, session: Session, closed: list[Window]) -> None:
        if not closed:
            return
        rows = [
            {
                "region_id": w.region,
                "size_s": w.size // 1000,
                "start": _when(w.start),
                "searches": w.searches,
                "bookings": w.bookings,
                "cancels": w.cancels,
                "supply_available": w.supply[3] if w.supply else None,
                "supply_busy": w.supply[4] if w.supply else None,
            }
            for w in closed
        ]
        stmt = _insert(session)(_W)
        update = {c: stmt.excluded[c] for c in ("searches", "bookings", "cancels",
                                                 "supply_available", "supply_busy")}  # fmt: skip
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["region_id", "size_s", "start"], set_=update
            ),
            rows,
        )

    def _features(self, closed: list[Window]) -> list[FeatureRow]:
        out = []
        for w in closed:
            if w.size != 60_000:
                continue
            state = self.regions.setdefault(w.region, RegionState())
            minute = Minute(
                w.start // 60_000,
                w.searches,
                w.bookings,
                w.cancels,
                w.supply[3] if w.supply else None,
                w.supply[4] if w.supply else None,
            )
            values = state.step(minute)
            end = _when(w.end)
            at = end + timedelta(milliseconds=self.lateness_ms)
            out.append(FeatureRow(w.region, end, at, values))
        return out


def _insert(session: Session) -> Any:
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


def _minute(stamp: datetime) -> int:
    return int(stamp.timestamp()) // 60


def _minute_of(row: Any) -> Minute:
    return Minute(
        _minute(row.start),
        row.searches,
        row.bookings,
        row.cancels,
        row.supply_available,
        row.supply_busy,
    )
