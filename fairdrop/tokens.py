"""Signed tokens: the fan id cookie and the admission token.

Both are signed with the settings' secret key (itsdangerous, HMAC-SHA256) and
salted by purpose, so a fan cookie can never pass as an admission token.
The fan id is the identity everything else keys on; a login (OAuth) can later
issue the same cookie for an account's id without changing anything downstream.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from fairdrop.errors import ErrorCode, FairdropError

FAN_COOKIE = "fairdrop_fan"


def new_fan_id() -> str:
    """128 random bits: ids appear in the published draw, so they must not be guessable."""
    return secrets.token_urlsafe(16)


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
        self._fan = URLSafeSerializer(secret_key, salt="fairdrop.fan", signer_kwargs=sha256)
        self._admission = URLSafeSerializer(
            secret_key, salt="fairdrop.admission", signer_kwargs=sha256
        )

    def sign_fan(self, fan_id: str) -> str:
        return self._fan.dumps(fan_id)

    def fan_from_cookie(self, cookie: str | None) -> str | None:
        """The fan id in a cookie, or None when missing or forged."""
        if not cookie:
            return None
        try:
            value: Any = self._fan.loads(cookie)
        except BadSignature:
            return None
        return value if isinstance(value, str) and value else None

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
