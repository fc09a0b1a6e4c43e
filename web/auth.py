"""Who is asking: the organiser's bearer token, a door token, the fan's signed session."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE, Session, Signer
from purchase.door_tokens import find_door_token


def _bearer(conn: HTTPConnection, whose: str) -> str:
    header = conn.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise FairdropError(
            ErrorCode.UNAUTHORIZED, f"{whose} token missing: send Authorization: Bearer <token>"
        )
    return given


def _is(given: str, token: str) -> bool:
    # Constant-time: a token is its holder's only secret. An unset token matches nothing.
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def bearer_is(conn: HTTPConnection, token: str, whose: str) -> bool:
    """Whether the request's bearer token is ``token``; 401 when it names none."""
    return _is(_bearer(conn, whose), token)


def require_organiser(conn: HTTPConnection, organiser_token: str) -> None:
    if not _is(_bearer(conn, "organiser"), organiser_token):
        raise FairdropError(ErrorCode.FORBIDDEN, "organiser token is not valid")


@dataclass(frozen=True)
class DoorStaff:
    """Who is at a door: a door token's holder, or the organiser."""

    # The one event whose tickets this door checks in; None: the organiser, every event.
    event_id: str | None
    # The door the token was made for; None: staff name their door on the page.
    door: str | None


async def require_door_staff(
    conn: HTTPConnection, signer: Signer, engine: Engine, organiser_token: str
) -> DoorStaff:
    """A live door token of one event, or the organiser's (who may stand at any door)."""
    given = _bearer(conn, "door")
    if _is(given, organiser_token):
        return DoorStaff(event_id=None, door=None)
    token_id, event_id = signer.check_door_token(given)
    token = await run_in_threadpool(find_door_token, engine, token_id)
    # Signed but without its row: made against another database with the same key.
    if token is None or token.event_id != event_id:
        raise FairdropError(ErrorCode.FORBIDDEN, "door token is not valid")
    if token.revoked_at is not None:
        raise FairdropError(
            ErrorCode.DOOR_TOKEN_REVOKED,
            "this door token was revoked: ask the organiser for a new one",
        )
    return DoorStaff(token.event_id, token.door)


def session_of(conn: HTTPConnection, signer: Signer) -> Session | None:
    """The fan's live session, or None when the cookie is missing, forged or expired."""
    return signer.session_from_cookie(conn.cookies.get(FAN_COOKIE))


def require_session(conn: HTTPConnection, signer: Signer) -> Session:
    session = session_of(conn, signer)
    if session is None:
        raise FairdropError(
            ErrorCode.NO_FAN_ID, "no valid session: join the event (or sign in) first"
        )
    return session


def entrant_of(conn: HTTPConnection, signer: Signer, event_id: str) -> str:
    """The entrant id of the fan asking, in this event: one per identity, not per browser."""
    return signer.entrant_id(event_id, require_session(conn, signer).identity)


def set_session_cookie(
    response: Response, signer: Signer, settings: Settings, session: Session
) -> None:
    # The header Starlette's ``set_cookie`` writes, without its trip through
    # http.cookies (a fresh fan's join pays it): a signed token never needs quoting.
    max_age = max(0, session.expires_at - session.issued_at)
    cookie = f"{FAN_COOKIE}={signer.sign_session(session)}; HttpOnly; Max-Age={max_age}; Path=/"
    cookie += "; SameSite=lax; Secure" if settings.cookie_secure else "; SameSite=lax"
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
