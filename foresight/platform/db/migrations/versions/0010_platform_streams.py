"""streams: records of a partitioned stream in the events table; partition checkpoints
and leases (streams.py, stream_db.py, stream_leases.py)

Revision ID: 0010_streams
Revises: 0009_webhook_row_keys
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import foresight.platform.db.base

revision: str = "0010_streams"
down_revision: str | Sequence[str] | None = "0009_webhook_row_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them without rebuilding the table; old rows are the
    # log's own events (no stream).
    op.add_column("events", sa.Column("stream", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("stream_partition", sa.SmallInteger(), nullable=True))
    op.create_index("ix_events_stream_partition_id", "events", ["stream", "stream_partition", "id"])
    op.create_index(
        "ix_events_log_id",
        "events",
        ["id"],
        sqlite_where=sa.text("stream IS NULL"),
        postgresql_where=sa.text("stream IS NULL"),
    )
    op.create_table(
        "stream_partitions",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("grp", sa.String(length=64), nullable=False),
        sa.Column("part", sa.SmallInteger(), nullable=False),
        sa.Column("major", sa.BigInteger(), nullable=False),
        sa.Column("minor", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column(
            "lease_expires_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("stream", "grp", "part"),
    )
    op.create_table(
        "stream_members",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("grp", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column(
            "expires_at", foresight.platform.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("stream", "grp", "owner"),
    )


def downgrade() -> None:
    op.drop_table("stream_members")
    op.drop_table("stream_partitions")
    op.drop_index("ix_events_log_id", table_name="events")
    op.drop_index("ix_events_stream_partition_id", table_name="events")
    # No table rebuild: a rebuilt SQLite table would lose AUTOINCREMENT (ids reused).
    with op.batch_alter_table("events", recreate="never") as batch:
        batch.drop_column("stream_partition")
        batch.drop_column("stream")
