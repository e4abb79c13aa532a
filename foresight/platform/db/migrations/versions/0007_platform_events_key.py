"""events by key: one entity's events in log order (EventLog.read_key)

Revision ID: 0007_events_key
Revises: 0006_webhook_dispatch
Create Date: 2026-11-23 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_events_key"
down_revision: str | Sequence[str] | None = "0006_webhook_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_key_id", "events", ["key", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_key_id", table_name="events")
