"""Entry receipts: the server's signed word that a fan is in a sale.

A receipt names the event, the fan's entry id (the id the published draw
lists), its place when issued and the commitment the fan saw (the seed's hash
and the beacon round), signed with the server's Ed25519 key. A fan whose entry
id is missing from the published list shows the receipt, and anyone holding
the public key (``GET /api/receipt-key``, pinned in docs/fairness.md) checks it.

A receipt of the sale's own draw is version 1. An entry in a resale round
(buffer/rounds.py) is version 2: the same fields plus ``round``, the round's
number, with that round's commitment in ``seed_hash`` and ``beacon_round``.
A new version rather than a new status value, because a verifier that knows
only version 1 then refuses the receipt as one it cannot read, where with a
new status it would pass the check and then read the round's seed hash as the
sale's commitment changed behind the fan's back (a false alarm against an
honest server); and ``status`` and ``number`` keep their one meaning (in the
window before the draw, or a queue number) within whichever draw the receipt
names, so a drawn round entrant's receipt carries both its round and its number.

The document is ``{"receipt": {...}, "signature": ...}``: the signature
(base64url, no padding) is over :func:`canonical_bytes` of the inner object,
so a verifier in any language rebuilds the signed bytes from the JSON alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from fairdrop.compact_json import ascii_json
from fairdrop.setting_values import SettingsError

ALGORITHM = "Ed25519"
KIND = "fairdrop-entry"
VERSION = 1  # an entry in the sale's own draw
ROUND_VERSION = 2  # an entry in a resale round: VERSION's fields and ``round``
VERSIONS = (VERSION, ROUND_VERSION)
# buffered: in the window, before the draw (number 0); queued: a queue number.
STATUSES = ("buffered", "queued")
# Derives the key from FAIRDROP_SECRET_KEY when no key of its own is set: a
# label of its own, so the receipt key says nothing of the cookies' keys.
HKDF_INFO = b"fairdrop receipts v1"
RECEIPT_KEY_ENV = "FAIRDROP_RECEIPT_KEY"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
# An Ed25519 signature is 64 bytes: 86 base64url characters without padding.
SIGNATURE_BYTES = 64
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{86}")


class ReceiptError(ValueError):
    """A receipt that does not check: the message says why."""


@dataclass(frozen=True)
class Receipt:
    """The inner object of a receipt that checked, field for field."""

    v: int
    kind: str
    event_id: str
    entry_id: str
    issued_at_ms: int
    status: str
    number: int
    seed_hash: str
    beacon_round: int | None
    key_id: str
    round: int | None = None  # the resale round (v2); None: the sale's own draw


# Each field's JSON type; bool is an int in Python and is refused apart.
_TYPES: dict[str, tuple[type, ...]] = {
    "v": (int,),
    "kind": (str,),
    "event_id": (str,),
    "entry_id": (str,),
    "issued_at_ms": (int,),
    "status": (str,),
    "number": (int,),
    "seed_hash": (str,),
    "beacon_round": (int, type(None)),
    "key_id": (str,),
}
_ROUND_TYPES: dict[str, tuple[type, ...]] = {**_TYPES, "round": (int,)}


def canonical_bytes(inner: Mapping[str, Any]) -> bytes:
    """The bytes a receipt's signature covers: sorted keys, no spaces, ASCII only.

    ``json.dumps(inner, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``,
    the form verifiers rebuild (docs/fairness.md), written by orjson where the
    two agree: at a fifth of the cost on each join.
    """
    return ascii_json(inner, sort_keys=True)


def key_id_of(public_key: bytes) -> str:
    """A short name for a raw 32-byte public key: the first 16 hex of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _checked_key(receipt_key: str) -> str:
    if receipt_key and not _HEX_KEY.fullmatch(receipt_key):
        # The value is a secret: what is wrong with it is said, never the value.
        wrong = "not all hex" if len(receipt_key) == 64 else f"{len(receipt_key)} long"
        raise SettingsError(
            f"{RECEIPT_KEY_ENV} must be 64 hex characters (a raw 32-byte Ed25519 "
            f"private key, e.g. from `openssl rand -hex 32`): this one is {wrong}"
        )
    return receipt_key.lower()


def receipt_key_from(env: Mapping[str, str]) -> str:
    """FAIRDROP_RECEIPT_KEY for fairdrop/settings.py: 64 hex characters, or "" (derive one)."""
    return _checked_key((env.get(RECEIPT_KEY_ENV) or "").strip())


class KeySettings(Protocol):
    """What a signer is made from (fairdrop/settings.py Settings has both)."""

    @property
    def receipt_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...


def receipt_seed(receipt_key: str, secret_key: str) -> bytes:
    """The 32-byte Ed25519 private seed: FAIRDROP_RECEIPT_KEY's when set, else
    derived from the secret key, so every replica and restart signs with one key.

    SettingsError when the receipt key is not 64 hex characters, or neither is set.
    """
    if receipt_key:
        return bytes.fromhex(_checked_key(receipt_key))
    if not secret_key:
        raise SettingsError(f"receipts need {RECEIPT_KEY_ENV} or FAIRDROP_SECRET_KEY")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(secret_key.encode())


def _base64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _now_ms() -> int:
    return int(time.time() * 1000)


class ReceiptSigner:
    """Issues receipts with one Ed25519 key.

    Signed by libsodium (PyNaCl), checked by OpenSSL (``cryptography``,
    :func:`check_receipt`). Ed25519 signatures are deterministic: the same
    seed signs the same bytes to the same 64 bytes in either (tests/fairdrop/
    test_receipts.py), and libsodium does it in about two thirds of OpenSSL's
    time, the larger part of a fresh fan's join that is not overhead
    (loadtests/RESULTS.md).
    """

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 private seed is 32 bytes")
        raw, self._secret = crypto_sign_seed_keypair(seed)
        self.public_key_hex = raw.hex()
        self.key_id = key_id_of(raw)

    @classmethod
    def from_settings(cls, settings: KeySettings, secret_key: str | None = None) -> ReceiptSigner:
        """The deployment's signer; ``secret_key`` stands in for an unset
        FAIRDROP_SECRET_KEY (the random key one web process makes for itself)."""
        secret = settings.secret_key if secret_key is None else secret_key
        return cls(receipt_seed(settings.receipt_key, secret))

    def key_document(self) -> dict[str, str]:
        """What ``GET /api/receipt-key`` and the draw document serve."""
        return {"algorithm": ALGORITHM, "public_key": self.public_key_hex, "key_id": self.key_id}

    def issue(
        self,
        event_id: str,
        entry_id: str,
        status: str,
        number: int,
        seed_hash: str,
        beacon_round: int | None,
        now_ms: int | None = None,
        round_number: int | None = None,
    ) -> dict[str, Any]:
        """A signed receipt of one entry as it stands now; ``round_number`` names
        the resale round it is in (``seed_hash`` and ``beacon_round`` its own),
        None an entry in the sale's own draw."""
        if status not in STATUSES:
            raise ValueError(
                f"a receipt is of a placed entry ({', '.join(STATUSES)}), not {status}"
            )
        if round_number is not None and round_number < 1:
            raise ValueError(f"resale rounds are numbered from 1, not {round_number}")
        inner: dict[str, Any] = {
            "v": VERSION if round_number is None else ROUND_VERSION,
            "kind": KIND,
            "event_id": event_id,
            "entry_id": entry_id,
            "issued_at_ms": _now_ms() if now_ms is None else now_ms,
            "status": status,
            "number": number,
            "seed_hash": seed_hash,
            "beacon_round": beacon_round,
            "key_id": self.key_id,
        }
        if round_number is not None:
            inner["round"] = round_number
        # libsodium's signed message is the signature and then the message.
        signature = crypto_sign(canonical_bytes(inner), self._secret)[:SIGNATURE_BYTES]
        return {
            "receipt": inner,
            "signature": _base64url(signature),
        }


def _public_key(public_key_hex: str) -> tuple[Ed25519PublicKey, str]:
    if not _HEX_KEY.fullmatch(public_key_hex):
        raise ReceiptError("the public key must be 64 hex characters (a raw Ed25519 key)")
    raw = bytes.fromhex(public_key_hex)
    return Ed25519PublicKey.from_public_bytes(raw), key_id_of(raw)


def _inner(doc: object) -> tuple[dict[str, Any], bytes]:
    """The receipt's inner object, its fields' types checked, and its signature's bytes."""
    if not isinstance(doc, dict):
        raise ReceiptError("a receipt is a JSON object with receipt and signature")
    if set(doc) != {"receipt", "signature"}:
        raise ReceiptError(f"a receipt has exactly receipt and signature, not {sorted(doc)}")
    inner, signature = doc["receipt"], doc["signature"]
    if not isinstance(inner, dict):
        raise ReceiptError("receipt must be an object")
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise ReceiptError("signature must be 86 base64url characters (64 bytes, no padding)")
    # The version says which fields there are; a wrong version is told below.
    fields = _ROUND_TYPES if inner.get("v") == ROUND_VERSION else _TYPES
    missing, extra = sorted(fields.keys() - inner.keys()), sorted(inner.keys() - fields.keys())
    if missing or extra:
        raise ReceiptError(f"receipt fields: missing {missing}, unknown {extra}")
    for name, types in fields.items():
        value = inner[name]
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ReceiptError(f"receipt.{name} must be {wanted}, got {json.dumps(value)}")
    raw = base64.urlsafe_b64decode(signature + "==")
    # The last character carries 4 spare bits: only the one spelling with them
    # zero is taken, so a signature has one text, as the receipt has one JSON.
    if _base64url(raw) != signature:
        raise ReceiptError("signature is not canonical base64url (its last character)")
    return inner, raw


def check_receipt(doc: object, public_key_hex: str) -> Receipt:
    """The receipt in ``doc`` (parsed JSON) if this key signed it; ReceiptError saying why not."""
    key, key_id = _public_key(public_key_hex)
    inner, signature = _inner(doc)
    if inner["v"] not in VERSIONS or inner["kind"] != KIND:
        raise ReceiptError(
            f"not a {KIND} receipt of version {' or '.join(map(str, VERSIONS))}: "
            f"kind {inner['kind']!r}, v {inner['v']}"
        )
    if inner.get("round", 1) < 1:
        raise ReceiptError(
            f"receipt.round must be a round number (1 or more), not {inner['round']}"
        )
    if inner["key_id"] != key_id:
        raise ReceiptError(
            f"signed by another key: key_id {inner['key_id']!r}, this key is {key_id}"
        )
    try:
        key.verify(signature, canonical_bytes(inner))
    except InvalidSignature as exc:
        raise ReceiptError(
            "the signature does not match: the receipt was changed or forged"
        ) from exc
    return Receipt(**inner)
