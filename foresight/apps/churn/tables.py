"""Churn tables: the imported customer table and the prediction history (seed 002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime, utcnow


class ChurnDatasetRow(Base):
    """Which columns of the imported customer file are the id and the target."""

    __tablename__ = "churn_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    id_column: Mapped[str] = mapped_column(String(100))
    target_column: Mapped[str] = mapped_column(String(100))
    positive_label: Mapped[str] = mapped_column(String(100))
    columns: Mapped[list[str]] = mapped_column(JSONType)
    row_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChurnCustomerRow(Base):
    """One customer. Attributes are kept as the user's own columns (any schema)."""

    __tablename__ = "churn_customers"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    churned: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChurnPredictionRow(Base):
    """The seed's ``predictions`` table, plus tier and whether a fallback answered."""

    __tablename__ = "churn_predictions"

    prediction_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(100), index=True, nullable=True)
    churn_probability: Mapped[float] = mapped_column(Float)
    prediction: Mapped[str] = mapped_column(String(5))
    risk_tier: Mapped[str] = mapped_column(String(10), index=True)
    confidence_level: Mapped[str] = mapped_column(String(10))
    model_version: Mapped[str] = mapped_column(String(40))
    fallback: Mapped[str | None] = mapped_column(String(30), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="api")
    prediction_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
