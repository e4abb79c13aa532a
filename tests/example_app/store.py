"""The tips table and its queries."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Float, Integer, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform.db.base import Base
from foresight.platform.db.engine import Database


class TipRow(Base):
    __tablename__ = "tips_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bill: Mapped[float] = mapped_column(Float)
    party_size: Mapped[int] = mapped_column(Integer)
    tip: Mapped[float] = mapped_column(Float)


class TipsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def replace(self, frame: pd.DataFrame) -> None:
        with self.db.session() as s:
            s.execute(delete(TipRow))
            s.execute(
                TipRow.__table__.insert(), frame[["bill", "party_size", "tip"]].to_dict("records")
            )

    def frame(self) -> pd.DataFrame:
        with self.db.session() as s:
            rows = s.execute(select(TipRow.bill, TipRow.party_size, TipRow.tip)).all()
        return pd.DataFrame(rows, columns=["bill", "party_size", "tip"])
