"""The published draw kept in the database, and each event's draw algorithm and beacon.

``draw_record`` holds a sale's frozen entrant list from the freeze on, and
its seed and beacon value once drawn, ``drawn_entrant`` the drawn numbers
(purchase/drawn.py), so a sale Redis lost comes back with the draw its fans
were shown (purchase/restore.py). Events made before this revision drew with
``fairdrop-draw-v1`` and had no beacon.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ALGORITHM_LENGTH = 32


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(
            sa.Column(
                "algorithm",
                sa.String(length=ALGORITHM_LENGTH),
                nullable=False,
                server_default="fairdrop-draw-v1",
            )
        )
        batch.add_column(sa.Column("beacon", sa.Text(), nullable=True))
    op.create_table(
        "draw_record",
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), primary_key=True),
        sa.Column("algorithm", sa.String(length=ALGORITHM_LENGTH), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("entrants_digest", sa.String(length=64), nullable=False),
        sa.Column("entrants", sa.Integer(), nullable=False),
        sa.Column("frozen_list", sa.Text(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("beacon", sa.Text(), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promise", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "drawn_entrant",
        # No foreign key: written only with its draw_record (purchase/models.py).
        sa.Column("event_id", sa.String(length=64), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.UniqueConstraint("event_id", "entry_id", name="drawn_entrant_event_id_entry_id_key"),
    )


def downgrade() -> None:
    op.drop_table("drawn_entrant")
    op.drop_table("draw_record")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("beacon")
        batch.drop_column("algorithm")
