"""Sign-in in the OpenAPI document: by an emailed link or code, and the session.

Emailing a sign-in link and code, signing in with the code, the session a
browser holds and forgetting it.
"""

from __future__ import annotations

from typing import Any

from fairdrop import identity
from web.email_sign_in import CHALLENGE_ID, LOCAL_PATH, MAX_NEXT, SIX_DIGITS
from web.openapi.parts import EMAIL, op, whole

# What a session can name (fairdrop/identity.py).
_IDENTITY_KINDS = (identity.ANON, identity.EMAIL, identity.OIDC, identity.MEMBER)

SCHEMAS: dict[str, Any] = {
    "EmailSignInIn": {
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {**EMAIL, "description": "spaces around it are trimmed"},
            "next": {
                "type": ["string", "null"],
                "maxLength": MAX_NEXT,
                "pattern": whole(LOCAL_PATH),
                "default": "/",
                "description": "the path on this site the link leads to once used",
            },
        },
    },
    "SignInChallenge": {
        "type": "object",
        "properties": {
            "challenge": {"type": "string", "description": "send it with the code"},
            "expires_in": {"type": "integer", "description": "seconds the link and code work"},
        },
    },
    "SignInCodeIn": {
        "type": "object",
        "required": ["challenge", "code"],
        "properties": {
            "challenge": {"type": "string", "pattern": whole(CHALLENGE_ID)},
            "code": {"type": "string", "pattern": whole(SIX_DIGITS)},
        },
    },
    "SignedIn": {
        "type": "object",
        "properties": {"signed_in_as": {"type": "string", "description": "the normalised email"}},
    },
    "SessionInfo": {
        "type": "object",
        "properties": {
            "signed_in": {"type": "boolean"},
            "kind": {"type": ["string", "null"], "enum": [*_IDENTITY_KINDS, None]},
            "display": {
                "type": ["string", "null"],
                "description": "the email or login to show; null when anonymous",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/sign-in/email": {
        "post": op(
            "Email a sign-in link (GET /sign-in/email/{token} signs in and redirects "
            "to next) and a six-digit code; the same answer for every address",
            "202",
            "SignInChallenge",
            body="EmailSignInIn",
            limited=True,
        )
    },
    "/api/sign-in/email/code": {
        "post": op(
            "Sign in with the emailed code (5 wrong codes close the sign-in; "
            "the code or the link works once); sets the fan cookie",
            "200",
            "SignedIn",
            body="SignInCodeIn",
        )
    },
    "/api/session": {
        "get": op("Who this browser is signed in as", "200", "SessionInfo"),
    },
    "/api/sign-out": {
        "post": op("Forget this browser's session (clears the cookie)", "200", "SessionInfo"),
    },
}
