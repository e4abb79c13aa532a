"""tips tables

Revision ID: 0001_tips
Revises:
Create Date: 2026-11-23 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_tips"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tips",)
depends_on: str | Sequence[str] | None = "0001_platform"


def upgrade() -> None:
    op.create_table(
        "tips_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill", sa.Float(), nullable=False),
        sa.Column("party_size", sa.Integer(), nullable=False),
        sa.Column("tip", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tips_tables")),
    )


def downgrade() -> None:
    op.drop_table("tips_tables")
