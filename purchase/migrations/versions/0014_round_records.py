"""Resale rounds kept in the database: each round's public record and its drawn numbers.

``round_record`` holds what a resale round published (buffer/rounds.py):
its commitment and schedule from its opening, its entrant digest and block
from the freeze, its seed, beacon value and promise once drawn;
``round_entrant`` its drawn numbers (purchase/round_records.py). A sale
Redis lost comes back with its rounds' records, so anyone can still verify
them (purchase/restore.py, web/round_draws.py).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ALGORITHM_LENGTH = 32


def upgrade() -> None:
    op.create_table(
        "round_record",
        sa.Column("event_id", sa.String(length=64), sa.ForeignKey("event.id"), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("algorithm", sa.String(length=ALGORITHM_LENGTH), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drop_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beacon", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entrants", sa.Integer(), nullable=True),
        sa.Column("first_number", sa.Integer(), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("promise", sa.String(length=32), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "round_entrant",
        # No foreign key: written only with its drawn round_record (purchase/round_models.py).
        sa.Column("event_id", sa.String(length=64), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("round_entrant")
    op.drop_table("round_record")
