"""Sales tables (seed 001): categories, products, transactions, the daily aggregate and
external regressors."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, UTCDateTime, utcnow


class SalesCategoryRow(Base):
    __tablename__ = "sales_categories"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class SalesProductRow(Base):
    __tablename__ = "sales_products"

    product_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(ForeignKey("sales_categories.name"), index=True)


class SalesTransactionRow(Base):
    """One sale line: a quantity of a product at a time, with its revenue."""

    __tablename__ = "sales_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("sales_products.product_id"))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    quantity: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)
    order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    batch: Mapped[int] = mapped_column(Integer, index=True)

    __table_args__ = (Index("ix_sales_transactions_product_time", "product_id", "sold_at"),)


class SalesDailyRow(Base):
    """Units and revenue per product and day (the forecasting input), kept on import."""

    __tablename__ = "sales_daily"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("sales_products.product_id"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    units: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)


class SalesRegressorRow(Base):
    """An external indicator (GDP, an index…) by date, joined to the series by day."""

    __tablename__ = "sales_regressors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class SalesImportRow(Base):
    """Each import or ingestion batch; its id versions the data (cache invalidation)."""

    __tablename__ = "sales_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))  # replace | append | regressors
    rows: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
