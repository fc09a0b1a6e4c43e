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
from itsdangerous.encoding import base64_encode

from fairdrop.compact_json import utf8_json
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import ANON, MAX_EMAIL, Identity

FAN_COOKIE = "fairdrop_fan"
# The longest part a session may carry: an email, an OpenID issuer or subject.
_MAX_PART = max(MAX_EMAIL, 255)


def anonymous_identity() -> Identity:
    """A fresh browser session: 128 random bits nobody can guess or pick."""
    return Identity(ANON, secrets.token_urlsafe(16))


def _unsign(serializer: URLSafeSerializer, token: str) -> Any:
    """What a token carries if this server signed it for this purpose, else None.

    Genuine tokens are ASCII: anything else (a lone surrogate from a JSON
    body) is refused here rather than failing inside itsdangerous.
    """
    if not token.isascii():
        return None
    try:
        return serializer.loads(token)
    except BadSignature:
        return None


def _two_texts(value: Any) -> tuple[str, str] | None:
    """A signed ``[text, text]`` payload as a pair; None for any other shape."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return None


@dataclass(frozen=True)
class Session:
    """Who a browser signed in as, since when and until when (epoch seconds)."""

    identity: Identity
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class SignInLink:
    """What an email sign-in link carries: its challenge, the address, its end (epoch s)."""

    challenge_id: str
    email: str
    expires_at: int


def _sign_in_link(value: Any) -> SignInLink | None:
    """A signed ``[challenge id, email, expiry]`` payload; None for any other shape."""
    if not (isinstance(value, list) and len(value) == 3):
        return None
    challenge_id, email, expires_at = value
    # bool is an int in Python; true is not a time.
    if isinstance(expires_at, bool) or not isinstance(expires_at, int):
        return None
    if not (isinstance(challenge_id, str) and isinstance(email, str)):
        return None
    return SignInLink(challenge_id, email, expires_at)


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
        # Its key, derived once: itsdangerous derives it again for every token
        # it signs, and every fresh fan's join signs a session (sign_session).
        self._session_key = self._session.make_signer().derive_key()
        self._admission = URLSafeSerializer(
            secret_key, salt="fairdrop.admission", signer_kwargs=sha256
        )
        # Door tokens carry no expiry: the organiser revokes them (purchase/door_tokens.py).
        self._door = URLSafeSerializer(secret_key, salt="fairdrop.door", signer_kwargs=sha256)
        # Personal links never expire on their own: taking the id off the list ends them.
        self._pass = URLSafeSerializer(secret_key, salt="fairdrop.pass", signer_kwargs=sha256)
        self._entrant_key = hmac.new(
            secret_key.encode(), b"fairdrop.entrant", hashlib.sha256
        ).digest()
        # Email sign-in (web/email_sign_in.py): the magic link, and the key that
        # turns its six-digit code into what Redis keeps.
        self._sign_in = URLSafeSerializer(secret_key, salt="fairdrop.sign_in", signer_kwargs=sha256)
        self._sign_in_code_key = hmac.new(
            secret_key.encode(), b"fairdrop.sign_in_code", hashlib.sha256
        ).digest()
        # Signs the ALTCHA challenges of the proof of work on join (web/proof_of_work.py).
        self.proof_of_work_key = hmac.new(
            secret_key.encode(), b"fairdrop.proof_of_work", hashlib.sha256
        ).digest()

    def new_session(self, identity: Identity, lifetime_s: int, now_s: int | None = None) -> Session:
        issued = int(time.time()) if now_s is None else now_s
        return Session(identity, issued, issued + lifetime_s)

    def sign_session(self, session: Session) -> str:
        """The session's token: what ``self._session.dumps`` gives, never compressed.

        itsdangerous tries zlib on every payload and keeps the result when it is
        shorter, which a session's random id almost never lets it be (23 of
        200,000 anonymous sessions, each a byte or two shorter), at most of the
        cost of signing one. Its reader takes either form, so every token made
        before still reads; the JSON is itsdangerous's bytes (utf8_json).
        """
        i = session.identity
        payload = [i.kind, i.scope, i.subject, session.issued_at, session.expires_at]
        value = base64_encode(utf8_json(payload))
        # itsdangerous's Signer.sign: the value, ".", its HMAC-SHA256 in base64url.
        signature = base64_encode(hmac.digest(self._session_key, value, "sha256"))
        return (value + b"." + signature).decode()

    def session_from_cookie(self, cookie: str | None, now_s: int | None = None) -> Session | None:
        """The live session in a cookie, or None when missing, forged, malformed or expired."""
        if not cookie:
            return None
        value = _unsign(self._session, cookie)
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

    def sign_pass(self, event_id: str, member_id: str) -> str:
        """A personal link's token: whoever opens it is this id on this event's list."""
        return self._pass.dumps([event_id, member_id])

    def check_pass(self, token: str) -> tuple[str, str]:
        """The (event id, member id) a personal link names, if genuine."""
        pair = _two_texts(_unsign(self._pass, token))
        if pair is None:
            raise FairdropError(ErrorCode.INVALID_LINK, "this personal link is not valid")
        return pair

    def entrant_id(self, event_id: str, identity: Identity) -> str:
        """The id this identity has in this event's buffer, queue and published draw.

        A keyed hash: the same person is one entrant however many browsers or
        sign-ins they use, nobody can pick or guess an id, ids of one person
        in two events cannot be linked, and no email appears in a draw.
        """
        message = f"{event_id}\x1f{identity.key()}".encode()
        # One-shot: OpenSSL's HMAC in one call, no Python HMAC object (every join asks).
        digest = hmac.digest(self._entrant_key, message, "sha256")
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    def sign_admission(self, admission: Admission) -> str:
        return self._admission.dumps(
            [admission.event_id, admission.fan_id, admission.number, admission.expires_at_ms]
        )

    def check_admission(
        self, token: str, event_id: str, fan_id: str, now_ms: int | None = None
    ) -> Admission:
        """The admission in a token, if it is genuine, this fan's, this event's and live."""
        value = _unsign(self._admission, token)
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

    def sign_door_token(self, token_id: str, event_id: str) -> str:
        """What door staff of one event sign in with; it names its row in ``door_token``."""
        return self._door.dumps([token_id, event_id])

    def check_door_token(self, token: str) -> tuple[str, str]:
        """The (token id, event id) a door token names, if this server signed it.

        Only the signature is checked here: whether the token was revoked is
        the row's to say.
        """
        pair = _two_texts(_unsign(self._door, token))
        if pair is None:
            raise FairdropError(ErrorCode.FORBIDDEN, "door token is not valid")
        return pair

    def sign_sign_in_link(self, link: SignInLink) -> str:
        return self._sign_in.dumps([link.challenge_id, link.email, link.expires_at])

    def check_sign_in_link(self, token: str, now_s: int | None = None) -> SignInLink:
        """The sign-in link in a token, if this server signed it and it has not expired.

        Whether its challenge is still unused is Redis's to say (web/lua/use_sign_in.lua).
        """
        link = _sign_in_link(_unsign(self._sign_in, token))
        if link is None:
            raise FairdropError(ErrorCode.INVALID_LINK, "this sign-in link is not valid")
        now = int(time.time()) if now_s is None else now_s
        if link.expires_at <= now:
            raise FairdropError(
                ErrorCode.LINK_EXPIRED, "this sign-in link has expired: ask for a new one"
            )
        return link

    def sign_in_code_digest(self, challenge_id: str, code: str) -> str:
        """What Redis keeps of a sign-in code instead of the code.

        Keyed with the secret: a plain hash of six digits is undone in a million
        tries, so a copy of Redis would give every live code away. The
        challenge id is in the message, so one code's digest says nothing of
        another challenge's.
        """
        message = f"{challenge_id}\x1f{code}".encode()
        return hmac.new(self._sign_in_code_key, message, hashlib.sha256).hexdigest()
