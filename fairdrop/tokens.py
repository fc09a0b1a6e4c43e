"""Signed tokens: the fan's session cookie, the admission token, entrant ids.

All are signed with the settings' secret key (itsdangerous, HMAC-SHA256) and
salted by purpose, so a session cookie can never pass as an admission token.
The session names one identity (fairdrop/identity.py) with an issue time and
an expiry; per event, the identity becomes an entrant id, which is what every
Redis script keys on. Two browsers of one identity are one entrant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import ANON, MAX_EMAIL, Identity

FAN_COOKIE = "fairdrop_fan"
# The longest part a session may carry: an email, an OpenID issuer or subject.
_MAX_PART = max(MAX_EMAIL, 255)


def anonymous_identity() -> Identity:
    """A fresh browser session: 128 random bits nobody can guess or pick."""
    return Identity(ANON, secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Session:
    """Who a browser signed in as, since when and until when (epoch seconds)."""

    identity: Identity
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class Admission:
    event_id: str
    fan_id: str
    number: int
    expires_at_ms: int


class Signer:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("a secret key is needed to sign tokens")
        # itsdangerous signs with HMAC-SHA1 through a pure-Python HMAC unless told.
        sha256 = {"digest_method": hashlib.sha256}
        self._session = URLSafeSerializer(secret_key, salt="fairdrop.session", signer_kwargs=sha256)
        self._admission = URLSafeSerializer(
            secret_key, salt="fairdrop.admission", signer_kwargs=sha256
        )
        self._entrant_key = hmac.new(
            secret_key.encode(), b"fairdrop.entrant", hashlib.sha256
        ).digest()

    def new_session(self, identity: Identity, lifetime_s: int, now_s: int | None = None) -> Session:
        issued = int(time.time()) if now_s is None else now_s
        return Session(identity, issued, issued + lifetime_s)

    def sign_session(self, session: Session) -> str:
        i = session.identity
        return self._session.dumps(
            [i.kind, i.scope, i.subject, session.issued_at, session.expires_at]
        )

    def session_from_cookie(self, cookie: str | None, now_s: int | None = None) -> Session | None:
        """The live session in a cookie, or None when missing, forged, malformed or expired."""
        if not cookie:
            return None
        try:
            value: Any = self._session.loads(cookie)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 5):
            return None
        kind, scope, subject, issued, expires = value
        texts = (kind, scope, subject)
        if not all(isinstance(t, str) and len(t) <= _MAX_PART for t in texts) or not subject:
            return None
        if not (isinstance(issued, int) and isinstance(expires, int)):
            return None
        now = int(time.time()) if now_s is None else now_s
        if expires <= now:
            return None
        return Session(Identity(kind, subject, scope), issued, expires)

    def entrant_id(self, event_id: str, identity: Identity) -> str:
        """The id this identity has in this event's buffer, queue and published draw.

        A keyed hash: the same person is one entrant however many browsers or
        sign-ins they use, nobody can pick or guess an id, ids of one person
        in two events cannot be linked, and no email appears in a draw.
        """
        message = f"{event_id}\x1f{identity.key()}".encode()
        digest = hmac.new(self._entrant_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    def sign_admission(self, admission: Admission) -> str:
        return self._admission.dumps(
            [admission.event_id, admission.fan_id, admission.number, admission.expires_at_ms]
        )

    def check_admission(
        self, token: str, event_id: str, fan_id: str, now_ms: int | None = None
    ) -> Admission:
        """The admission in a token, if it is genuine, this fan's, this event's and live."""
        try:
            value: Any = self._admission.loads(token)
        except BadSignature as exc:
            raise FairdropError(ErrorCode.INVALID_TOKEN, "admission token is not valid") from exc
        if not (isinstance(value, list) and len(value) == 4):
            raise FairdropError(ErrorCode.INVALID_TOKEN, "admission token is not valid")
        admission = Admission(str(value[0]), str(value[1]), int(value[2]), int(value[3]))
        if admission.event_id != event_id or admission.fan_id != fan_id:
            raise FairdropError(
                ErrorCode.FOREIGN_TOKEN, "admission token belongs to another fan or event"
            )
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if admission.expires_at_ms < now:
            raise FairdropError(ErrorCode.TOKEN_EXPIRED, "admission token has expired")
        return admission
