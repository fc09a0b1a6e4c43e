"""Who is asking: the organiser's or door staff's bearer token, the fan's signed cookie."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.tokens import FAN_COOKIE, Signer


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


def fan_from_request(conn: HTTPConnection, signer: Signer) -> str | None:
    return signer.fan_from_cookie(conn.cookies.get(FAN_COOKIE))


def require_fan(conn: HTTPConnection, signer: Signer) -> str:
    fan_id = fan_from_request(conn, signer)
    if fan_id is None:
        raise FairdropError(ErrorCode.NO_FAN_ID, "no valid fan id: join the event first")
    return fan_id
