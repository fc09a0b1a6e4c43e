"""A running sale's pause message, and the log of every change an organiser made to a sale.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(
            sa.Column(
                "pause_message",
                sa.String(length=280),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
    op.create_table(
        "sale_change",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("field", sa.String(length=120), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=False),
        sa.Column("new_value", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sale_change_event_id", "sale_change", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_sale_change_event_id", table_name="sale_change")
    op.drop_table("sale_change")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("pause_message")
