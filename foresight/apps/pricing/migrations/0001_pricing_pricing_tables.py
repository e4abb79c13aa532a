"""pricing tables: closed windows, partition state

Revision ID: 0001_pricing
Revises:
Create Date: 2026-11-24 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import foresight.platform.db.base

revision: str = "0001_pricing"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("pricing",)
# The consumer commits its windows with a stream checkpoint and writes feature rows.
depends_on: str | Sequence[str] | None = "0011_feature_rows"

UTC = foresight.platform.db.base.UTCDateTime
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pricing_windows",
        sa.Column("region_id", sa.String(length=50), nullable=False),
        sa.Column("size_s", sa.Integer(), nullable=False),
        sa.Column("start", UTC(timezone=True), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("cancels", sa.Integer(), nullable=False),
        sa.Column("supply_available", sa.Integer(), nullable=True),
        sa.Column("supply_busy", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("region_id", "size_s", "start"),
    )
    op.create_table(
        "pricing_partition_state",
        sa.Column("part", sa.SmallInteger(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.PrimaryKeyConstraint("part"),
    )


def downgrade() -> None:
    op.drop_table("pricing_partition_state")
    op.drop_table("pricing_windows")
