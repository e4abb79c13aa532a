"""Churn tables (the imported customer table, the prediction history of seed 002) and
the queries over them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Boolean, Float, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base, JSONType, UTCDateTime, utcnow
from foresight.platform.db.engine import Database


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
    # The batch job that wrote it: a job that fails takes its predictions with it.
    job_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)


def _latest_per_customer(condition: Any) -> Any:
    """The latest prediction of every customer matching ``condition``."""
    latest = (
        select(
            ChurnPredictionRow.customer_id,
            func.max(ChurnPredictionRow.prediction_id).label("m"),
        )
        .where(condition)
        .group_by(ChurnPredictionRow.customer_id)
        .subquery()
    )
    return select(ChurnPredictionRow).join(latest, ChurnPredictionRow.prediction_id == latest.c.m)


class ChurnStore:
    """Every read and write of the churn tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- customers -------------------------------------------------------------------
    def dataset(self) -> ChurnDatasetRow | None:
        """The latest import's description (id and target columns), if any."""
        with self.db.session() as s:
            return s.scalar(select(ChurnDatasetRow).order_by(ChurnDatasetRow.id.desc()).limit(1))

    def replace_customers(self, rows: list[dict[str, Any]], dataset: ChurnDatasetRow) -> None:
        """Swap the whole customer table in one transaction (all rows or none)."""
        with self.db.session() as s:
            s.execute(delete(ChurnCustomerRow))
            s.execute(ChurnCustomerRow.__table__.insert(), rows)
            s.add(dataset)

    def customers(self, columns: list[str]) -> tuple[list[str], pd.DataFrame, list[bool | None]]:
        """Every stored customer, ordered by id: ids, attributes as a frame, labels."""
        row = ChurnCustomerRow
        table = self.db.frame(
            select(row.customer_id, row.attributes, row.churned).order_by(row.customer_id)
        )
        frame = pd.DataFrame(list(table["attributes"]), columns=columns)
        labels = [None if pd.isna(v) else bool(v) for v in table["churned"]]
        return table["customer_id"].tolist(), frame, labels

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(ChurnCustomerRow, customer_id)
            return None if row is None else dict(row.attributes)

    # ---- predictions -----------------------------------------------------------------
    def add_predictions(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.db.session() as s:
                s.execute(ChurnPredictionRow.__table__.insert(), rows)

    def delete_job_predictions(self, job_id: str) -> int:
        """Delete the predictions a batch job wrote; returns how many."""
        with self.db.session() as s:
            result = s.execute(
                delete(ChurnPredictionRow).where(ChurnPredictionRow.job_id == job_id)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def latest_tiers(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Each customer's tier in their latest stored prediction."""
        ids = list(ids)
        out: dict[str, str | None] = {}
        with self.db.session() as s:
            for start in range(0, len(ids), 500):
                query = _latest_per_customer(
                    ChurnPredictionRow.customer_id.in_(ids[start : start + 500])
                )
                out.update({r.customer_id: r.risk_tier for r in s.scalars(query)})
        return out

    def prediction(self, prediction_id: int) -> ChurnPredictionRow | None:
        with self.db.session() as s:
            return s.get(ChurnPredictionRow, prediction_id)

    def prediction_before(self, customer_id: str, at: datetime) -> ChurnPredictionRow | None:
        """The customer's latest prediction made at or before ``at``."""
        with self.db.session() as s:
            return s.scalar(
                select(ChurnPredictionRow)
                .where(
                    ChurnPredictionRow.customer_id == customer_id,
                    ChurnPredictionRow.prediction_date <= at,
                )
                .order_by(ChurnPredictionRow.prediction_id.desc())
                .limit(1)
            )

    def history(self, customer_id: str, limit: int) -> list[ChurnPredictionRow]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(ChurnPredictionRow)
                    .where(ChurnPredictionRow.customer_id == customer_id)
                    .order_by(ChurnPredictionRow.prediction_id.desc())
                    .limit(limit)
                )
            )

    def recent(self, limit: int) -> list[ChurnPredictionRow]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(ChurnPredictionRow)
                    .order_by(ChurnPredictionRow.prediction_id.desc())
                    .limit(limit)
                )
            )

    def _latest_of_stored(self) -> Any:
        """Each stored customer's latest prediction."""
        return _latest_per_customer(ChurnPredictionRow.customer_id.is_not(None)).join(
            ChurnCustomerRow, ChurnCustomerRow.customer_id == ChurnPredictionRow.customer_id
        )

    def at_risk(self, *, tier: str | None, limit: int, offset: int) -> list[ChurnPredictionRow]:
        q = self._latest_of_stored()
        if tier:
            q = q.where(ChurnPredictionRow.risk_tier == tier)
        q = q.order_by(ChurnPredictionRow.churn_probability.desc()).limit(limit).offset(offset)
        with self.db.session() as s:
            return list(s.scalars(q))

    def latest_probabilities(self) -> list[float]:
        """The latest churn probability of every stored customer."""
        with self.db.session() as s:
            return [r.churn_probability for r in s.scalars(self._latest_of_stored())]

    def purge_predictions(self, before: datetime) -> int:
        """Retention: drop predictions made before ``before``."""
        with self.db.session() as s:
            result = s.execute(
                delete(ChurnPredictionRow).where(ChurnPredictionRow.prediction_date < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)
