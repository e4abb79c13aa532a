"""Sales tables (seed 001): categories, products, transactions, the daily aggregate and
external regressors, and the queries over them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from foresight.platform.db.base import Base, UTCDateTime, utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput


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
    # A retried ingestion with the same key changes nothing (see SalesStore.write).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    message: Mapped[str | None] = mapped_column(String(500), nullable=True)


class SalesStore:
    """Every read and write of the sales tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- writes ----------------------------------------------------------------------
    def previous_import(self, idempotency_key: str) -> SalesImportRow | None:
        """The import an earlier request with this key made, if any."""
        with self.db.session() as s:
            return s.scalar(
                select(SalesImportRow).where(SalesImportRow.idempotency_key == idempotency_key)
            )

    def write(
        self,
        tx: pd.DataFrame,
        *,
        mode: str,
        source: str,
        actor: str,
        message: str,
        idempotency_key: str | None = None,
    ) -> int:
        """Store checked transactions in one transaction (all rows or none); returns the
        import id. ``replace`` swaps the whole history, ``append`` adds to it."""
        with self.db.session() as s:
            known = {
                str(pid): str(cat)
                for pid, cat in s.execute(
                    select(SalesProductRow.product_id, SalesProductRow.category)
                )
            }
            if mode == "replace":
                for table in (SalesDailyRow, SalesTransactionRow, SalesProductRow):
                    s.execute(delete(table))
                s.execute(delete(SalesCategoryRow))
                known = {}
            self._add_products(s, tx, known)
            batch = SalesImportRow(
                source=source[:500],
                kind=mode,
                rows=len(tx),
                actor=actor[:100],
                idempotency_key=idempotency_key,
                message=message[:500],
            )
            s.add(batch)
            s.flush()
            s.execute(
                SalesTransactionRow.__table__.insert(),
                [
                    {
                        "product_id": str(r.product_id),
                        "sold_at": r.sold_at.to_pydatetime(),
                        "quantity": float(r.quantity),
                        "revenue": float(r.revenue),
                        "order_id": None if pd.isna(r.order_id) else str(r.order_id),
                        "batch": batch.id,
                    }
                    for r in tx.itertuples()
                ],
            )
            self._refresh_daily(s, tx)
            return batch.id

    @staticmethod
    def _add_products(s: Session, tx: pd.DataFrame, known: dict[str, str]) -> None:
        new = tx[~tx["product_id"].isin(list(known))].drop_duplicates("product_id")
        if "category" not in new.columns:
            new = new.assign(category=None)
        unnamed = new.loc[new["category"].isna(), "product_id"]
        if len(unnamed):
            raise InvalidInput(f"new product(s) {', '.join(map(str, unnamed[:5]))} need a category")
        categories = set(s.scalars(select(SalesCategoryRow.name)))
        for cat in sorted(set(new["category"]) - categories) if len(new) else []:
            s.add(SalesCategoryRow(name=str(cat)))
        s.flush()
        for row in new.itertuples():
            s.add(
                SalesProductRow(
                    product_id=str(row.product_id),
                    name=str(_given(getattr(row, "product_name", None)) or row.product_id),
                    category=str(row.category),
                )
            )
        s.flush()

    @staticmethod
    def _refresh_daily(s: Session, tx: pd.DataFrame) -> None:
        """Recompute the daily aggregate for every (product, day) the batch touched."""
        touched = tx.assign(day=tx["sold_at"].dt.date)[["product_id", "day"]].drop_duplicates()
        first, last = min(touched["day"]), max(touched["day"])
        rows = s.execute(
            select(
                SalesTransactionRow.product_id,
                SalesTransactionRow.sold_at,
                SalesTransactionRow.quantity,
                SalesTransactionRow.revenue,
            ).where(
                SalesTransactionRow.product_id.in_(list(touched["product_id"].unique())),
                SalesTransactionRow.sold_at >= datetime.combine(first, datetime.min.time()),
                SalesTransactionRow.sold_at
                < datetime.combine(last + timedelta(days=1), datetime.min.time()),
            )
        ).all()
        got = pd.DataFrame(rows, columns=["product_id", "sold_at", "quantity", "revenue"])
        got["day"] = pd.to_datetime(got["sold_at"], utc=True).dt.tz_convert(None).dt.date
        agg = got.groupby(["product_id", "day"], as_index=False)[["quantity", "revenue"]].sum()
        agg = agg.merge(touched, on=["product_id", "day"])
        for r in touched.itertuples():
            s.execute(
                delete(SalesDailyRow).where(
                    SalesDailyRow.product_id == r.product_id, SalesDailyRow.day == r.day
                )
            )
        s.execute(
            SalesDailyRow.__table__.insert(),
            [
                {
                    "product_id": r.product_id,
                    "day": r.day,
                    "units": r.quantity,
                    "revenue": r.revenue,
                }
                for r in agg.itertuples()
            ],
        )

    def write_regressors(
        self, records: list[dict[str, Any]], names: list[str], *, source: str, actor: str
    ) -> None:
        """Replace the named indicators' values."""
        with self.db.session() as s:
            s.execute(delete(SalesRegressorRow).where(SalesRegressorRow.name.in_(names)))
            s.execute(SalesRegressorRow.__table__.insert(), records)
            s.add(
                SalesImportRow(
                    source=source[:500], kind="regressors", rows=len(records), actor=actor[:100]
                )
            )

    # ---- reads -----------------------------------------------------------------------
    def data_version(self) -> tuple[int, date | None]:
        """(latest import id, latest day of data)."""
        with self.db.session() as s:
            version = s.scalar(select(func.max(SalesImportRow.id))) or 0
            last = s.scalar(select(func.max(SalesDailyRow.day)))
        return version, last

    def has_data(self) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(func.count()).select_from(SalesDailyRow)))

    def daily(self) -> pd.DataFrame:
        """Units and revenue per product and day, with each product's category."""
        frame = self.db.frame(
            select(
                SalesDailyRow.product_id,
                SalesDailyRow.day,
                SalesDailyRow.units,
                SalesDailyRow.revenue,
                SalesProductRow.category,
            ).join(SalesProductRow)
        )
        frame["day"] = pd.to_datetime(frame["day"])
        return frame

    def products(self) -> dict[str, dict[str, str]]:
        with self.db.session() as s:
            rows = s.execute(select(SalesProductRow)).scalars().all()
            return {r.product_id: {"name": r.name, "category": r.category} for r in rows}

    def categories(self) -> list[str]:
        with self.db.session() as s:
            return sorted(s.scalars(select(SalesCategoryRow.name)))

    def regressors(self) -> pd.DataFrame:
        """Indicators wide by day (one column each); empty if none."""
        with self.db.session() as s:
            rows = s.execute(select(SalesRegressorRow)).scalars().all()
            frame = pd.DataFrame(
                [(r.name, r.day, r.value) for r in rows], columns=["name", "day", "value"]
            )
        if frame.empty:
            return frame
        frame["day"] = pd.to_datetime(frame["day"])
        return frame.pivot(index="day", columns="name", values="value")


def _given(value: Any) -> Any:
    """``value``, or None for a missing cell (pandas' NaN is truthy)."""
    return None if value is None or pd.isna(value) else value
