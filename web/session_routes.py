"""Who the browser is signed in as, signing in and signing out: shared by every sign-in.

Email sign-in (web/email_sign_in.py) and OpenID Connect sign-in both end in
:func:`sign_in_as`; ``GET /api/session`` tells a page who it is speaking for,
and ``POST /api/sign-out`` forgets the session in this browser.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fairdrop.identity import ANON, Identity
from fairdrop.tokens import FAN_COOKIE, Session
from web.auth import session_of, set_session_cookie
from web.context import WebContext, context_of

# Who a browser is signed in as is personal: no shared cache may keep it.
NO_STORE = {"Cache-Control": "no-store"}


def sign_in_as(response: Response, ctx: WebContext, identity: Identity) -> Session:
    """A new session for ``identity``, set as the browser's cookie on ``response``.

    It replaces whatever session the browser had: a fan who joined an open
    sale anonymously and then signs in is a new entrant from then on.
    """
    session = ctx.signer.new_session(identity, ctx.settings.session_hours * 3600)
    set_session_cookie(response, ctx.signer, ctx.settings, session)
    return session


def session_view(session: Session | None) -> dict[str, Any]:
    """``display`` is what a page shows (the email, the login's subject); null when anonymous."""
    if session is None:
        return {"signed_in": False, "kind": None, "display": None}
    identity = session.identity
    return {
        "signed_in": identity.signed_in,
        "kind": identity.kind,
        "display": None if identity.kind == ANON else identity.subject,
    }


async def current_session(request: Request) -> JSONResponse:
    ctx = context_of(request)
    return JSONResponse(session_view(session_of(request, ctx.signer)), headers=NO_STORE)


async def sign_out(request: Request) -> JSONResponse:
    """Forgets the session in this browser.

    Sessions are signed, not stored, so a copy of the cookie taken elsewhere
    still works until it expires (FAIRDROP_SESSION_HOURS).
    """
    ctx = context_of(request)
    response = JSONResponse(session_view(None), headers=NO_STORE)
    response.delete_cookie(
        FAN_COOKIE, httponly=True, samesite="lax", secure=ctx.settings.cookie_secure
    )
    return response


routes = [
    Route("/api/session", current_session, methods=["GET"]),
    Route("/api/sign-out", sign_out, methods=["POST"]),
]
