"""feature store: the offline store's rows (feature_store.py)

Revision ID: 0011_feature_rows
Revises: 0010_streams
Create Date: 2026-11-24 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import foresight.platform.db.base

revision: str = "0011_feature_rows"
down_revision: str | Sequence[str] | None = "0010_streams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_rows",
        sa.Column("view", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=200), nullable=False),
        sa.Column(
            "event_time", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "available_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("view", "entity", "event_time"),
    )


def downgrade() -> None:
    op.drop_table("feature_rows")
