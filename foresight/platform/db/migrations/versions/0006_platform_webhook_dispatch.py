"""webhook dispatch: subscribers consume the event log; leases, back-off, pauses, counters

Revision ID: 0006_webhook_dispatch
Revises: 0005_monitor
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import foresight.platform.db.base

revision: str = "0006_webhook_dispatch"
down_revision: str | Sequence[str] | None = "0005_monitor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = foresight.platform.db.base.UTCDateTime(timezone=True)

webhooks = sa.table(
    "webhooks",
    sa.column("id", sa.Integer()),
    sa.column("active", sa.Boolean()),
    sa.column("start_offset", sa.BigInteger()),
)
deliveries = sa.table(
    "webhook_deliveries",
    sa.column("webhook_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("last_error", sa.Text()),
)
events = sa.table("events", sa.column("id", sa.BigInteger()))


def upgrade() -> None:
    # batch mode: SQLite cannot alter a table in place, so Alembic copies it.
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(
            sa.Column("start_offset", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("lease_until", TIME, nullable=True))
        batch.add_column(sa.Column("next_attempt_at", TIME, nullable=True))
        batch.add_column(sa.Column("paused_until", TIME, nullable=True))
        batch.add_column(sa.Column("head", sa.String(length=60), nullable=True))
        for name in ("attempts", "consecutive_dead"):
            batch.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
        for name in ("delivered", "failed"):
            batch.add_column(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_delivered_at", TIME, nullable=True))
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("event_offset", sa.BigInteger(), nullable=True))
        batch.create_index(
            "ix_webhook_deliveries_webhook_id_status", ["webhook_id", "status"], unique=False
        )
    # Existing subscribers start at the log's current end: their past events were queued as
    # delivery rows by the previous version, and those rows are still sent (pending ones)
    # or kept for replay (dead ones), so reading the log from 0 would send them twice.
    end = sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0)).scalar_subquery()
    op.execute(webhooks.update().values(start_offset=end))
    # Pending rows of removed subscribers would wait forever: record them as dead.
    removed = sa.select(webhooks.c.id).where(webhooks.c.active == sa.false())
    op.execute(
        deliveries.update()
        .where(deliveries.c.status == "pending", deliveries.c.webhook_id.in_(removed))
        .values(status="dead", last_error="the webhook was removed before this was sent")
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_webhook_id_status")
        batch.drop_column("event_offset")
    with op.batch_alter_table("webhooks") as batch:
        for name in (
            "last_delivered_at",
            "last_error",
            "failed",
            "delivered",
            "consecutive_dead",
            "attempts",
            "head",
            "paused_until",
            "next_attempt_at",
            "lease_until",
            "lease_owner",
            "start_offset",
        ):
            batch.drop_column(name)
