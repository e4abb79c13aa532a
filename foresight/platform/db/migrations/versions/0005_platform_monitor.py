"""monitoring: recent inputs, outcomes, reports; the training reference of a version

Revision ID: 0005_monitor
Revises: 0004_job_heartbeat
Create Date: 2026-11-23 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import foresight.platform.db.base

revision: str = "0005_monitor"
down_revision: str | Sequence[str] | None = "0004_job_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
TIME = foresight.platform.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("reference", JSON, nullable=True))
    op.create_table(
        "monitor_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=60), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_inputs")),
    )
    op.create_index(op.f("ix_monitor_inputs_model_name"), "monitor_inputs", ["model_name"])
    op.create_index(op.f("ix_monitor_inputs_created_at"), "monitor_inputs", ["created_at"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(length=50), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=60), nullable=True),
        sa.Column("entity", sa.String(length=200), nullable=True),
        sa.Column("prediction_id", sa.Integer(), nullable=True),
        sa.Column("predicted", sa.Float(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("observed_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("key", name=op.f("uq_outcomes_key")),
    )
    op.create_index(op.f("ix_outcomes_model_name"), "outcomes", ["model_name"])
    op.create_index(op.f("ix_outcomes_recorded_at"), "outcomes", ["recorded_at"])
    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=60), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_reports")),
    )
    op.create_index(op.f("ix_monitor_reports_model_name"), "monitor_reports", ["model_name"])


def downgrade() -> None:
    op.drop_table("monitor_reports")
    op.drop_table("outcomes")
    op.drop_table("monitor_inputs")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("reference")
