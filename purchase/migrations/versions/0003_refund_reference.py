"""Cancelled orders keep the provider's refund reference.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_order") as order:
        order.add_column(sa.Column("refund_ref", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_order") as order:
        order.drop_column("refund_ref")
