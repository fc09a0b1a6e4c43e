"""Door tokens: the organiser makes one per event (or per door of it) and can revoke it.

A row per token is the record (which event, which door, made when, revoked
when). What staff type in is a signed string naming the row
(fairdrop/tokens.py), so nobody can make one without the server's key, and
the row is read at every use, so a revoked token stops at once in every web
process. That read is one primary-key lookup beside the check-in's own
UPDATE; a cache would save little and make revocation wait for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import col, select

from purchase.db import open_session
from purchase.models import DoorToken, utcnow


def new_door_token(engine: Engine, event_id: str, door: str | None) -> DoorToken:
    token = DoorToken(id=uuid.uuid4().hex, event_id=event_id, door=door)
    with open_session(engine) as session:
        session.add(token)
        session.commit()
    return token


def door_tokens_of(engine: Engine, event_id: str) -> list[DoorToken]:
    """The event's door tokens, oldest first, revoked ones included."""
    with open_session(engine) as session:
        query = (
            select(DoorToken)
            .where(DoorToken.event_id == event_id)
            .order_by(col(DoorToken.created_at), col(DoorToken.id))
        )
        return list(session.exec(query).all())


def find_door_token(engine: Engine, token_id: str) -> DoorToken | None:
    with open_session(engine) as session:
        return session.get(DoorToken, token_id)


def revoke_door_token(
    engine: Engine, event_id: str, token_id: str, at: datetime | None = None
) -> DoorToken | None:
    """Revokes the token; None when the event has no such token.

    Revoking again changes nothing: the first ``revoked_at`` stands.
    """
    revoke = (
        update(DoorToken)
        .where(
            col(DoorToken.id) == token_id,
            col(DoorToken.event_id) == event_id,
            col(DoorToken.revoked_at).is_(None),
        )
        .values(revoked_at=at or utcnow())
    )
    with open_session(engine) as session:
        session.execute(revoke)
        session.commit()
        token = session.get(DoorToken, token_id)
    return token if token is not None and token.event_id == event_id else None
