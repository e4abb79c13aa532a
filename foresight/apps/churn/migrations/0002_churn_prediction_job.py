"""churn predictions: the batch job that wrote them

Revision ID: 0002_churn
Revises: 0001_churn
Create Date: 2026-11-23 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_churn"
down_revision: str | Sequence[str] | None = "0001_churn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds it in place, without copying the table.
    with op.batch_alter_table("churn_predictions") as batch:
        batch.add_column(sa.Column("job_id", sa.String(length=36), nullable=True))
        batch.create_index(op.f("ix_churn_predictions_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("churn_predictions") as batch:
        batch.drop_index(op.f("ix_churn_predictions_job_id"))
        batch.drop_column("job_id")
