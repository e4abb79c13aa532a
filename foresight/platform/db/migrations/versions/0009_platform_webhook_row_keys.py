"""webhooks: a replayed row's retry key is "row:<id>" (it was "delivery:<id>")

Revision ID: 0009_webhook_row_keys
Revises: 0008_events_key_only
Create Date: 2026-11-24 02:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_webhook_row_keys"
down_revision: str | Sequence[str] | None = "0008_events_key_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A subscriber in the middle of retrying a replayed row keeps its attempt count.
    op.execute("UPDATE webhooks SET head = 'row:' || substr(head, 10) WHERE head LIKE 'delivery:%'")


def downgrade() -> None:
    op.execute("UPDATE webhooks SET head = 'delivery:' || substr(head, 5) WHERE head LIKE 'row:%'")
