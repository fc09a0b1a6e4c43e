"""The first tables: event, ticket_type, ticket_order, order_item, ticket.

Written to match ``purchase/models.py`` as ``SQLModel.metadata.create_all``
built them before there were migrations. Constraints carry PostgreSQL's own
default names, so a database made either way is the same, and SQLite's batch
mode can find them by name later.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# "<event id>.<type id>", as purchase.models.TYPE_ID_LENGTH was at this revision.
TYPE_ID_LENGTH = 96


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drop_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate_per_min", sa.Integer(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("hold_seconds", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="event_pkey"),
    )
    op.create_table(
        "ticket_type",
        sa.Column("id", sa.String(length=TYPE_ID_LENGTH), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("per_person_limit", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name="ticket_type_event_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="ticket_type_pkey"),
    )
    op.create_index("ix_ticket_type_event_id", "ticket_type", ["event_id"])
    op.create_table(
        "ticket_order",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("fan_id", sa.String(length=64), nullable=False),
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("payment_ref", sa.String(length=255), nullable=False),
        sa.Column("payment_provider", sa.String(length=32), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name="ticket_order_event_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="ticket_order_pkey"),
        # One order per hold and per payment (invariant 6).
        sa.UniqueConstraint("hold_id", name="ticket_order_hold_id_key"),
        sa.UniqueConstraint("payment_ref", name="ticket_order_payment_ref_key"),
    )
    op.create_index("ix_ticket_order_event_id", "ticket_order", ["event_id"])
    op.create_index("ix_ticket_order_fan_id", "ticket_order", ["fan_id"])
    op.create_table(
        "order_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_type_id", sa.String(length=TYPE_ID_LENGTH), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"], name="order_item_order_id_fkey"),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"], ["ticket_type.id"], name="order_item_ticket_type_id_fkey"
        ),
        sa.PrimaryKeyConstraint("id", name="order_item_pkey"),
    )
    op.create_index("ix_order_item_order_id", "order_item", ["order_id"])
    op.create_table(
        "ticket",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_type_id", sa.String(length=TYPE_ID_LENGTH), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["order_id"], ["ticket_order.id"], name="ticket_order_id_fkey"),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"], ["ticket_type.id"], name="ticket_ticket_type_id_fkey"
        ),
        sa.PrimaryKeyConstraint("id", name="ticket_pkey"),
        sa.UniqueConstraint("code", name="ticket_code_key"),
    )
    op.create_index("ix_ticket_order_id", "ticket", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_order_id", table_name="ticket")
    op.drop_table("ticket")
    op.drop_index("ix_order_item_order_id", table_name="order_item")
    op.drop_table("order_item")
    op.drop_index("ix_ticket_order_fan_id", table_name="ticket_order")
    op.drop_index("ix_ticket_order_event_id", table_name="ticket_order")
    op.drop_table("ticket_order")
    op.drop_index("ix_ticket_type_event_id", table_name="ticket_type")
    op.drop_table("ticket_type")
    op.drop_table("event")
