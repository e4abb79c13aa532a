"""scheduled tasks: one lease row per task (foresight.platform.scheduler)

Revision ID: 0003_scheduler
Revises: 0002_events
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import foresight.platform.db.base

revision: str = "0003_scheduler"
down_revision: str | Sequence[str] | None = "0002_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_tasks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column(
            "lease_expires_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "next_run_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_started_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_finished_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_tasks")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_tasks")
