"""Discount codes, and the code and discount each paid order was bought with.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discount_code",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ticket_type_id", sa.String(length=96), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("event_id", "code", name="discount_code_event_id_code_key"),
    )
    op.create_index("ix_discount_code_event_id", "discount_code", ["event_id"])
    with op.batch_alter_table("ticket_order") as batch:
        batch.add_column(sa.Column("discount_code", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("discount_cents", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_order") as batch:
        batch.drop_column("discount_cents")
        batch.drop_column("discount_code")
    op.drop_index("ix_discount_code_event_id", table_name="discount_code")
    op.drop_table("discount_code")
