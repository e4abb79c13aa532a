"""sales imports: idempotency key and the answer given

Revision ID: 0002_sales
Revises: 0001_sales
Create Date: 2026-11-23 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sales"
down_revision: str | Sequence[str] | None = "0001_sales"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_imports") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("message", sa.String(length=500), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_sales_imports_idempotency_key"), ["idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("sales_imports") as batch:
        batch.drop_constraint(op.f("uq_sales_imports_idempotency_key"), type_="unique")
        batch.drop_column("message")
        batch.drop_column("idempotency_key")
