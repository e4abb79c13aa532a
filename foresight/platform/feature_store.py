"""Features defined once, kept twice: online for serving, offline for training.

A ``FeatureView`` names an entity (a region, a store) and its features. A consumer that
computes a row writes it to the offline store inside the transaction that commits its
stream checkpoint (``OfflineStore.write``), and to the online store after the commit
(``online_store.py``). ``available_at`` is when serving could first have read the row;
``OfflineStore.training_set`` joins labels to the newest row available at each label's
time and no older than the view's ``ttl`` (what the online store would have served
then), so no training row sees a value from its future.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd
from sqlalchemy import String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput
from foresight.platform.event_units import MAX_KEY, MAX_STREAM, check_text, check_time

Value = float | int | str | None
_CHUNK = 500


class FeatureRowTable(Base):
    __tablename__ = "feature_rows"

    view: Mapped[str] = mapped_column(String(MAX_STREAM), primary_key=True)
    entity: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)


_T = cast(Table, FeatureRowTable.__table__)


@dataclass(frozen=True)
class FeatureView:
    """``name``'s features of one ``entity`` kind (``entity`` names the label column that
    holds the entity id); a row is served for ``ttl`` after it becomes available."""

    name: str
    entity: str
    features: tuple[str, ...]
    ttl: timedelta

    def __post_init__(self) -> None:
        check_text(self.name, "feature view name", MAX_STREAM)
        check_text(self.entity, "entity column", MAX_STREAM)
        if not self.features or len(set(self.features)) != len(self.features):
            raise InvalidInput(f"view {self.name!r} needs distinct feature names")
        if self.ttl <= timedelta(0):
            raise InvalidInput(f"view {self.name!r} needs a positive ttl")


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """One entity's feature values at ``event_time``, readable from ``available_at``."""

    entity: str
    event_time: datetime
    available_at: datetime
    values: Mapping[str, Value]


def check_row(view: FeatureView, row: FeatureRow) -> dict[str, Value]:
    """The row's values in the view's order (missing ones None); refuses unknown names,
    naive times, NaN and an ``available_at`` before ``event_time``."""
    check_text(row.entity, "entity", MAX_KEY)
    check_time(row.event_time, "event_time")
    check_time(row.available_at, "available_at")
    if row.available_at < row.event_time:
        raise InvalidInput(f"{view.name}: a row is available only after its event time")
    unknown = set(row.values) - set(view.features)
    if unknown:
        raise InvalidInput(f"{view.name} has no feature {sorted(unknown)[0]!r}")
    out: dict[str, Value] = {}
    for name in view.features:
        value = row.values.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{view.name}.{name} must be finite (or None), got {value}")
        out[name] = value
    return out


class OfflineStore:
    """Every feature row ever computed, in the ``feature_rows`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = db.engine.dialect.name
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert

    def write(self, session: Session, view: FeatureView, rows: Sequence[FeatureRow]) -> None:
        """Upsert ``rows`` in the caller's transaction (a replayed row replaces itself)."""
        params = [
            {
                "view": view.name,
                "entity": r.entity,
                "event_time": r.event_time,
                "available_at": r.available_at,
                "values": check_row(view, r),
            }
            for r in rows
        ]
        if not params:
            return
        stmt = self._insert(_T)
        stmt = stmt.on_conflict_do_update(
            index_elements=["view", "entity", "event_time"],
            set_={"available_at": stmt.excluded.available_at, "values": stmt.excluded["values"]},
        )
        for start in range(0, len(params), _CHUNK):
            session.execute(stmt, params[start : start + _CHUNK])

    def read(
        self,
        view: FeatureView,
        *,
        entities: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        available_from: datetime | None = None,
    ) -> pd.DataFrame:
        """Rows of ``view`` (``entity, event_time, available_at`` and one column per
        feature) with ``start <= event_time < end`` and ``available_at >=
        available_from``, oldest first."""
        c = _T.c
        query = select(c.entity, c.event_time, c.available_at, c["values"]).where(
            c.view == view.name
        )
        if entities is not None:
            query = query.where(c.entity.in_(list(entities)))
        if start is not None:
            query = query.where(c.event_time >= start)
        if end is not None:
            query = query.where(c.event_time < end)
        if available_from is not None:
            query = query.where(c.available_at >= available_from)
        with self.db.session() as session:
            rows = session.execute(query.order_by(c.event_time, c.entity)).all()
        frame = pd.DataFrame(
            [(r.entity, r.event_time, r.available_at) for r in rows],
            columns=["entity", "event_time", "available_at"],
        )
        for name in view.features:
            frame[name] = [r.values.get(name) for r in rows]
        for column in ("event_time", "available_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def training_set(
        self, view: FeatureView, labels: pd.DataFrame, *, time_column: str = "label_time"
    ) -> pd.DataFrame:
        """``labels`` (one row per label: ``view.entity`` and ``time_column``, any other
        columns kept) with the view's features as of each label's time: the newest row
        with ``available_at <= label time`` and ``label time - available_at <= ttl``;
        none (NaN) otherwise. Adds ``feature_event_time``. Rows keep the labels' order."""
        for column in (view.entity, time_column):
            if column not in labels.columns:
                raise InvalidInput(f"labels need a {column!r} column")
        times = pd.to_datetime(labels[time_column], utc=True)
        if times.isna().any():
            raise InvalidInput(f"labels' {time_column!r} has empty or unreadable times")
        left = labels.assign(
            _t=times, _e=labels[view.entity].astype(str), _order=range(len(labels))
        )
        features = self.read(
            view,
            entities=sorted(set(left["_e"])),
            available_from=(times.min() - view.ttl).to_pydatetime(),
            end=times.max().to_pydatetime() + timedelta(microseconds=1),
        )
        features = features.rename(columns={"entity": "_e", "event_time": "feature_event_time"})
        # Ties on available_at: the later event wins (the newer value of the two).
        features = features.sort_values(["available_at", "feature_event_time"], kind="stable")
        joined = pd.merge_asof(
            left.sort_values("_t", kind="stable"),
            features,
            left_on="_t",
            right_on="available_at",
            by="_e",
            direction="backward",
            tolerance=pd.Timedelta(view.ttl),
            allow_exact_matches=True,
        )
        joined = joined.sort_values("_order", kind="stable").reset_index(drop=True)
        return joined.drop(columns=["_t", "_e", "_order", "available_at"])


__all__ = ["FeatureRow", "FeatureView", "OfflineStore", "Value", "check_row"]
