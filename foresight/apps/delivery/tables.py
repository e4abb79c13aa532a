"""The delivery app's projection tables (plan §4.2). The event log is the source of truth
for customers and attempts (``state.py``); these rows are its projection, rebuilt exactly
by ``CustomerPart.rebuild``. Calendars are not events: their rows hold only busy
intervals, never titles, places or attendees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime

ID = 100  # customer ids: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$
# The event offset of an attempt; SQLite needs INTEGER for a 64-bit primary key.
OffsetType = BigInteger().with_variant(Integer(), "sqlite")


class CustomerRow(Base):
    """One customer's profile and counters. ``version`` counts profile changes (the
    ``If-Match`` of a PATCH); ``state_version`` counts every change, attempts and
    calendar included, so caches keyed on it go stale on any of them."""

    __tablename__ = "delivery_customers"

    customer_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(50), index=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    country: Mapped[str] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(10), nullable=True)
    household_type: Mapped[str] = mapped_column(String(20))
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    state_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AttemptRow(Base):
    """One delivery attempt. The key is the offset of its ``DeliveryAttempted`` event, so
    a rebuild from the log reproduces every row, key included."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        Index("ix_delivery_attempts_customer_attempted", "customer_id", "attempted_at"),
    )

    event_offset: Mapped[int] = mapped_column(OffsetType, primary_key=True, autoincrement=False)
    customer_id: Mapped[str] = mapped_column(String(ID))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered: Mapped[bool] = mapped_column(Boolean)
    failure_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    precip_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    weather_source: Mapped[str | None] = mapped_column(String(20), nullable=True)
    source: Mapped[str] = mapped_column(String(10))  # api | import | demo


class CalendarRow(Base):
    """A customer's calendar: an upload (its ``.ics`` kept, so the expansion horizon can
    roll forward) or a feed URL, and how fresh its busy intervals are."""

    __tablename__ = "delivery_calendars"

    customer_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # upload | feed
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    ics: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    etag: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_modified: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # fresh | stale | unavailable
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    instances: Mapped[int] = mapped_column(Integer, default=0)
    floating_times: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    covers_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BusyRow(Base):
    """One merged busy interval of a customer's calendar (UTC)."""

    __tablename__ = "delivery_busy"
    __table_args__ = (Index("ix_delivery_busy_customer_start", "customer_id", "start_at"),)

    id: Mapped[int] = mapped_column(OffsetType, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(ID))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)


# The Core tables, typed as such (bulk inserts and updates go through them).
CUSTOMERS = cast(Table, CustomerRow.__table__)
ATTEMPTS = cast(Table, AttemptRow.__table__)
TABLES = (CUSTOMERS, ATTEMPTS, cast(Table, CalendarRow.__table__), cast(Table, BusyRow.__table__))
