"""Payments that bought nothing (late, or a second one for a hold) and their refunds.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stray_payment",
        sa.Column("payment_ref", sa.String(length=255), primary_key=True),
        sa.Column("payment_provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("fan_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("refund_ref", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stray_payment_event_id", "stray_payment", ["event_id"])
    op.create_index("ix_stray_payment_hold_id", "stray_payment", ["hold_id"])


def downgrade() -> None:
    op.drop_index("ix_stray_payment_hold_id", table_name="stray_payment")
    op.drop_index("ix_stray_payment_event_id", table_name="stray_payment")
    op.drop_table("stray_payment")
