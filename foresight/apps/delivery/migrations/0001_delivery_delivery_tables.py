"""delivery tables: customers, attempts, calendars, busy intervals

Revision ID: 0001_delivery
Revises:
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import foresight.platform.db.base

revision: str = "0001_delivery"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("delivery",)
# Rebuilding a customer reads its events by key, through the platform's key index.
depends_on: str | Sequence[str] | None = "0007_events_key"

UTC = foresight.platform.db.base.UTCDateTime
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OFFSET = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_customers",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=50), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("subdivision", sa.String(length=10), nullable=True),
        sa.Column("household_type", sa.String(length=20), nullable=False),
        sa.Column("preferences", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("state_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.Column("deleted_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_delivery_customers")),
    )
    with op.batch_alter_table("delivery_customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_customers_zone"), ["zone"], unique=False)

    op.create_table(
        "delivery_attempts",
        sa.Column("event_offset", OFFSET, autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("attempted_at", UTC(timezone=True), nullable=False),
        sa.Column("window_start", UTC(timezone=True), nullable=False),
        sa.Column("window_end", UTC(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("failure_reason", sa.String(length=20), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("precip_mm", sa.Float(), nullable=True),
        sa.Column("temp_c", sa.Float(), nullable=True),
        sa.Column("weather_source", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("event_offset", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_attempts_customer_attempted",
            ["customer_id", "attempted_at"],
            unique=False,
        )

    op.create_table(
        "delivery_calendars",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("ics", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched_at", UTC(timezone=True), nullable=True),
        sa.Column("checked_at", UTC(timezone=True), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("floating_times", sa.Boolean(), nullable=False),
        sa.Column("covers_from", UTC(timezone=True), nullable=True),
        sa.Column("covers_to", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_delivery_calendars")),
    )

    op.create_table(
        "delivery_busy",
        sa.Column("id", OFFSET, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("start_at", UTC(timezone=True), nullable=False),
        sa.Column("end_at", UTC(timezone=True), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_busy")),
    )
    with op.batch_alter_table("delivery_busy", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_busy_customer_start", ["customer_id", "start_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_busy", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_busy_customer_start")
    op.drop_table("delivery_busy")
    op.drop_table("delivery_calendars")
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_attempts_customer_attempted")
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("delivery_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_customers_zone"))
    op.drop_table("delivery_customers")
