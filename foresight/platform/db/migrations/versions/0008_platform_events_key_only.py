"""events: drop the index on key alone (ix_events_key_id serves every read by key)

Revision ID: 0008_events_key_only
Revises: 0007_events_key
Create Date: 2026-11-23 23:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_events_key_only"
down_revision: str | Sequence[str] | None = "0007_events_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (key, id) answers "key = ?" as well; a second index only costs every publish a write.
    op.drop_index("ix_events_key", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_key", "events", ["key"], unique=False)
