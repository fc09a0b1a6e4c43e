"""Resale rounds kept in the database (purchase/round_records.py), as the sale's draw is.

Apart from purchase/models.py only for its length: the tables are
registered with the others wherever purchase/db.py is imported.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from purchase.models import ALGORITHM_LENGTH, utcnow


class RoundRecord(SQLModel, table=True):
    """A resale round's public record (buffer/rounds.py), as far as it was published.

    Opened: its commitment, schedule and beacon round. Frozen: its entrant
    list's digest and block of numbers. Drawn: its seed, beacon value and
    promise, with its ``round_entrant`` rows in the same transaction. A
    drawn row never changes.
    """

    __tablename__ = "round_record"

    event_id: str = Field(primary_key=True, max_length=64, foreign_key="event.id")
    round: int = Field(primary_key=True)
    algorithm: str = Field(max_length=ALGORITHM_LENGTH)
    seed_hash: str = Field(max_length=64)
    opens_at: datetime
    drop_at: datetime
    # The beacon as the record holds it (JSON text): the round committed to,
    # then its value; "" for a sale drawn without one (or a round nobody entered).
    beacon: str = Field(sa_type=Text)
    digest: str | None = Field(default=None, max_length=64)
    digest_at: datetime | None = Field(default=None)
    entrants: int | None = Field(default=None)
    first_number: int | None = Field(default=None)
    # Revealed by the draw, never saved before: a round is saved when it opens.
    seed: str | None = Field(default=None, max_length=64)
    promise: str | None = Field(default=None, max_length=32)
    drawn_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class RoundEntrant(SQLModel, table=True):
    """One drawn round entrant's queue number (a line of the round's published list).

    Not in ``drawn_entrant``: a fan drawn in the sale may enter a round too.
    Written only with its drawn round_record, so no foreign key (as drawn_entrant).
    """

    __tablename__ = "round_entrant"

    event_id: str = Field(primary_key=True, max_length=64)
    round: int = Field(primary_key=True)
    number: int = Field(primary_key=True)
    entry_id: str = Field(max_length=64)
