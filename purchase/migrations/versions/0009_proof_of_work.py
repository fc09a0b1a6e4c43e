"""Proof of work on join: each event's difficulty (the ALTCHA maxnumber, 0 for none).

Events made before this revision ask no proof.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(
            sa.Column("pow_difficulty", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.drop_column("pow_difficulty")
