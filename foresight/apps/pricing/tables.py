"""The pricing app's tables (migration ``0001_pricing``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime


class WindowRow(Base):
    """A closed window of a region: counts and the supply at its close."""

    __tablename__ = "pricing_windows"

    region_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    size_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    searches: Mapped[int] = mapped_column(Integer)
    bookings: Mapped[int] = mapped_column(Integer)
    cancels: Mapped[int] = mapped_column(Integer)
    supply_available: Mapped[int | None] = mapped_column(Integer, nullable=True)
    supply_busy: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PartitionStateRow(Base):
    """A stream partition's open windows, watermark and late counts (``windows.py``),
    committed with the partition's checkpoint."""

    __tablename__ = "pricing_partition_state"

    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
