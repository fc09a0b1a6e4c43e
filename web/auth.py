"""Who is asking: the organiser's or door staff's bearer token, the fan's signed session."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection
from starlette.responses import Response

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE, Session, Signer


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


def require_organiser(conn: HTTPConnection, organiser_token: str) -> None:
    if not _is(_bearer(conn, "organiser"), organiser_token):
        raise FairdropError(ErrorCode.FORBIDDEN, "organiser token is not valid")


def require_door_staff(conn: HTTPConnection, door_token: str, organiser_token: str) -> None:
    """The door token, or the organiser's: an organiser may stand at a door too."""
    given = _bearer(conn, "door")
    if not (_is(given, door_token) or _is(given, organiser_token)):
        raise FairdropError(ErrorCode.FORBIDDEN, "door token is not valid")


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
    response.set_cookie(
        FAN_COOKIE,
        signer.sign_session(session),
        max_age=max(0, session.expires_at - session.issued_at),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
