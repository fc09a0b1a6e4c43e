"""Money in BIGINT: prices, order totals and unit prices in cents.

An INTEGER holds 2,147,483,647 cents; one order of 22 tickets at 1,000,000.00
passed that, and PostgreSQL refused the order after the payment was taken.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, column) of every amount in cents.
MONEY_COLUMNS = (
    ("ticket_type", "price_cents"),
    ("ticket_order", "total_cents"),
    ("order_item", "unit_price_cents"),
)


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    for table, column in MONEY_COLUMNS:
        # batch_alter_table: SQLite cannot change a column's type in place, so
        # Alembic rebuilds the table there; PostgreSQL gets an ALTER COLUMN.
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    # Fails on PostgreSQL if an amount no longer fits an INTEGER, rather than
    # losing it.
    _retype(sa.BigInteger(), sa.Integer())
