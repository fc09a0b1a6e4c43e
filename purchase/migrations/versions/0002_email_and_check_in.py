"""Orders keep the fan's email for the confirmation; tickets remember their check-in.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_order") as order:
        order.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    with op.batch_alter_table("ticket") as ticket:
        ticket.add_column(sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
        ticket.add_column(sa.Column("checked_in_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as ticket:
        ticket.drop_column("checked_in_by")
        ticket.drop_column("checked_in_at")
    with op.batch_alter_table("ticket_order") as order:
        order.drop_column("email")
