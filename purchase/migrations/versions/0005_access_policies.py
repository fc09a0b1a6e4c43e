"""Access policies: who may enter a sale, the organiser's list, who bought each order.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(
            sa.Column("access", sa.String(length=8), nullable=False, server_default="open")
        )
    with op.batch_alter_table("ticket_order") as batch:
        batch.add_column(sa.Column("buyer", sa.String(length=520), nullable=True))
    op.create_table(
        "access_entry",
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), primary_key=True),
        sa.Column("entrant_id", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=254), nullable=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("access_entry")
    with op.batch_alter_table("ticket_order") as batch:
        batch.drop_column("buyer")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("access")
