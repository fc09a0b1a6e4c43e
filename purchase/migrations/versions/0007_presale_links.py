"""Presale links, and which link each order was bought through.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presale_link",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("ticket_type_id", sa.String(length=96), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_presale_link_event_id", "presale_link", ["event_id"])
    with op.batch_alter_table("ticket_order") as batch:
        batch.add_column(sa.Column("presale_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_order") as batch:
        batch.drop_column("presale_id")
    op.drop_index("ix_presale_link_event_id", table_name="presale_link")
    op.drop_table("presale_link")
