"""Resale at face value: a ticket put back (listed, voided) and its listing.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "resale_listing",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("ticket_type_id", sa.String(length=96), nullable=False),
        sa.Column(
            "seller_order_id",
            sa.String(length=64),
            sa.ForeignKey("ticket_order.id"),
            nullable=False,
        ),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("buyer_order_id", sa.String(length=64), nullable=True),
        sa.Column("refund_ref", sa.String(length=255), nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("ticket_id", name="resale_listing_ticket_id_key"),
    )
    op.create_index("ix_resale_listing_event_id", "resale_listing", ["event_id"])
    op.create_index("ix_resale_listing_seller_order_id", "resale_listing", ["seller_order_id"])
    op.create_index("ix_resale_listing_buyer_order_id", "resale_listing", ["buyer_order_id"])


def downgrade() -> None:
    op.drop_index("ix_resale_listing_buyer_order_id", table_name="resale_listing")
    op.drop_index("ix_resale_listing_seller_order_id", table_name="resale_listing")
    op.drop_index("ix_resale_listing_event_id", table_name="resale_listing")
    op.drop_table("resale_listing")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("voided_at")
        batch.drop_column("listed_at")
