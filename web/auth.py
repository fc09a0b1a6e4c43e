"""Who is asking: the organiser's bearer token and the fan's signed cookie."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.tokens import FAN_COOKIE, Signer


def require_organiser(conn: HTTPConnection, organiser_token: str) -> None:
    header = conn.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise FairdropError(
            ErrorCode.UNAUTHORIZED, "organiser token missing: send Authorization: Bearer <token>"
        )
    # Constant-time: the token is the organiser's only secret.
    if not organiser_token or not hmac.compare_digest(given.encode(), organiser_token.encode()):
        raise FairdropError(ErrorCode.FORBIDDEN, "organiser token is not valid")


def fan_from_request(conn: HTTPConnection, signer: Signer) -> str | None:
    return signer.fan_from_cookie(conn.cookies.get(FAN_COOKIE))


def require_fan(conn: HTTPConnection, signer: Signer) -> str:
    fan_id = fan_from_request(conn, signer)
    if fan_id is None:
        raise FairdropError(ErrorCode.NO_FAN_ID, "no valid fan id: join the event first")
    return fan_id
