"""Door tokens per event (and per door): made and revoked by the organiser.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "door_token",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("door", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_door_token_event_id", "door_token", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_door_token_event_id", table_name="door_token")
    op.drop_table("door_token")
