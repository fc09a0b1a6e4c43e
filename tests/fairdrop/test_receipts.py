"""Entry receipts (fairdrop/receipts.py): what a server signs checks, and
nothing changed after signing does; the key is the deployment's, stable."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from fairdrop.receipts import (
    HKDF_INFO,
    Receipt,
    ReceiptError,
    ReceiptSigner,
    canonical_bytes,
    check_receipt,
    receipt_seed,
)
from fairdrop.settings import Settings, SettingsError

SEED = bytes(range(32))
SIGNER = ReceiptSigner(SEED)
SEED_HASH = hashlib.sha256(b"the seed").hexdigest()


def _issued(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "spring-drop",
        "entry_id": "q5bYcS3f0J1Qy9r8a2L0xg",
        "status": "queued",
        "number": 7,
        "seed_hash": SEED_HASH,
        "beacon_round": 4_242_424,
        "now_ms": 1_767_225_600_123,
    }
    return SIGNER.issue(**{**fields, **changes})


def test_a_receipt_checks_against_the_key_that_signed_it() -> None:
    receipt = check_receipt(_issued(), SIGNER.public_key_hex)

    assert receipt == Receipt(
        v=1,
        kind="fairdrop-entry",
        event_id="spring-drop",
        entry_id="q5bYcS3f0J1Qy9r8a2L0xg",
        issued_at_ms=1_767_225_600_123,
        status="queued",
        number=7,
        seed_hash=SEED_HASH,
        beacon_round=4_242_424,
        key_id=SIGNER.key_id,
    )


def test_a_buffered_receipt_without_a_beacon_round_checks_after_a_trip_through_json() -> None:
    issued = _issued(status="buffered", number=0, beacon_round=None)
    receipt = check_receipt(json.loads(json.dumps(issued, indent=2)), SIGNER.public_key_hex)
    assert (receipt.status, receipt.number, receipt.beacon_round) == ("buffered", 0, None)


def test_the_signature_is_ed25519_over_the_documented_bytes() -> None:
    """What docs/fairness.md tells an outsider, checked with nothing of ours but the bytes."""
    issued = _issued()
    signed = json.dumps(
        issued["receipt"], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()
    signature = base64.urlsafe_b64decode(issued["signature"] + "==")
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(SIGNER.public_key_hex))
    key.verify(signature, signed)  # raises if not
    assert "=" not in issued["signature"] and len(signature) == 64
    assert SIGNER.key_id == hashlib.sha256(bytes.fromhex(SIGNER.public_key_hex)).hexdigest()[:16]
    assert SIGNER.key_document() == {
        "algorithm": "Ed25519",
        "public_key": SIGNER.public_key_hex,
        "key_id": SIGNER.key_id,
    }


@given(st.binary(min_size=32, max_size=32), st.text(max_size=40), st.integers(0, 2**53))
def test_libsodium_signs_what_openssl_signs(seed: bytes, entry_id: str, number: int) -> None:
    """The signer is libsodium's; OpenSSL's Ed25519 (what signed receipts before,
    and checks them) gives the same key and the same signature for every receipt."""
    signer = ReceiptSigner(seed)
    issued = signer.issue("e1", entry_id, "queued", number, SEED_HASH, None, now_ms=number)
    openssl = Ed25519PrivateKey.from_private_bytes(seed)
    raw = openssl.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert signer.public_key_hex == raw.hex()
    expected = openssl.sign(canonical_bytes(issued["receipt"]))
    assert base64.urlsafe_b64decode(issued["signature"] + "==") == expected
    assert check_receipt(issued, raw.hex()).entry_id == entry_id


def test_canonical_bytes_are_stable() -> None:
    inner = {"b": 1, "a": "é", "c": None, "d": [1, "x"]}
    shuffled = {"d": [1, "x"], "c": None, "a": "é", "b": 1}
    assert canonical_bytes(inner) == canonical_bytes(shuffled)
    assert canonical_bytes(inner) == b'{"a":"\\u00e9","b":1,"c":null,"d":[1,"x"]}'


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "another-drop"),
        ("entry_id", "someone-else-entirely0"),
        ("issued_at_ms", 1_767_225_600_124),
        ("status", "buffered"),
        ("number", 1),
        ("seed_hash", hashlib.sha256(b"a re-committed seed").hexdigest()),
        ("beacon_round", 4_242_425),
        ("beacon_round", None),
    ],
)
def test_a_changed_field_is_rejected(field: str, value: Any) -> None:
    doc = _issued()
    doc["receipt"][field] = value
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(doc, SIGNER.public_key_hex)


def _flip(signature: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@given(st.integers(min_value=0, max_value=63))
def test_a_changed_signature_is_rejected(at: int) -> None:
    doc = _issued()
    doc["signature"] = _flip(doc["signature"], at)
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(doc, SIGNER.public_key_hex)


def test_another_keys_receipt_is_rejected() -> None:
    other = ReceiptSigner(bytes(32))
    theirs = other.issue("spring-drop", "x", "queued", 1, SEED_HASH, None)
    with pytest.raises(ReceiptError, match="another key"):
        check_receipt(theirs, SIGNER.public_key_hex)
    # Claiming our key id does not help: the signature is still theirs.
    forged = copy.deepcopy(theirs)
    forged["receipt"]["key_id"] = SIGNER.key_id
    forged["signature"] = other.issue("spring-drop", "x", "queued", 1, SEED_HASH, None)["signature"]
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(forged, SIGNER.public_key_hex)


def test_a_receipt_of_another_kind_or_version_is_rejected() -> None:
    for field, value in [("kind", "fairdrop-ticket"), ("v", 3), ("v", 0)]:
        doc = _issued()
        doc["receipt"][field] = value
        with pytest.raises(ReceiptError, match="not a fairdrop-entry receipt of version 1 or 2"):
            check_receipt(doc, SIGNER.public_key_hex)


# Signed by the code before resale rounds had receipts (version 1 only): it
# must check as it always did, with no round.
V1_RECEIPT = {
    "receipt": {
        "v": 1,
        "kind": "fairdrop-entry",
        "event_id": "spring-drop",
        "entry_id": "q5bYcS3f0J1Qy9r8a2L0xg",
        "issued_at_ms": 1767225600123,
        "status": "buffered",
        "number": 0,
        "seed_hash": SEED_HASH,
        "beacon_round": 4242424,
        "key_id": "56475aa75463474c",
    },
    "signature": "U3w0RzuNdbFVu2FCQxjGFZ1GHbxJqKmTAv27FK5G7LZAJhW9"
    "ekjlXy5-URoy74XFLTEhMNOTm-UirhfsSR26Aw",
}


def test_a_version_1_receipt_signed_before_rounds_still_checks() -> None:
    receipt = check_receipt(copy.deepcopy(V1_RECEIPT), SIGNER.public_key_hex)
    assert (receipt.v, receipt.status, receipt.round) == (1, "buffered", None)
    # An entry in the sale's own draw is still issued as exactly that.
    assert _issued(status="buffered", number=0) == V1_RECEIPT


ROUND_SEED_HASH = hashlib.sha256(b"round 3's seed").hexdigest()


def _in_round(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": "buffered",
        "number": 0,
        "seed_hash": ROUND_SEED_HASH,
        "beacon_round": 4_242_999,
        "round_number": 3,
    }
    return _issued(**{**fields, **changes})


def test_a_resale_round_entry_is_a_version_2_receipt_naming_the_round() -> None:
    doc = _in_round()
    assert doc["receipt"]["v"] == 2 and doc["receipt"]["round"] == 3
    receipt = check_receipt(json.loads(json.dumps(doc)), SIGNER.public_key_hex)
    assert (receipt.v, receipt.round, receipt.status, receipt.number) == (2, 3, "buffered", 0)
    assert (receipt.seed_hash, receipt.beacon_round) == (ROUND_SEED_HASH, 4_242_999)
    # Drawn: its number in the round's block, the round still named.
    drawn = check_receipt(_in_round(status="queued", number=12), SIGNER.public_key_hex)
    assert (drawn.round, drawn.status, drawn.number) == (3, "queued", 12)
    # The signature is over the documented bytes, round included.
    signed = json.dumps(doc["receipt"], sort_keys=True, separators=(",", ":")).encode()
    assert b'"round":3' in signed
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(SIGNER.public_key_hex)).verify(
        base64.urlsafe_b64decode(doc["signature"] + "=="), signed
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("round", 4),
        ("round", 1),
        ("seed_hash", SEED_HASH),  # passed off as an entry in the sale's draw
        ("beacon_round", 4_242_424),
        ("status", "queued"),
    ],
)
def test_a_changed_round_field_is_rejected(field: str, value: Any) -> None:
    doc = _in_round()
    doc["receipt"][field] = value
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(doc, SIGNER.public_key_hex)


def test_a_round_cannot_be_added_to_or_taken_from_a_receipt() -> None:
    # A sale's receipt made a round's (or the other way): the fields no longer
    # fit the version, or the signature no longer fits the fields.
    added = _issued()
    added["receipt"]["round"] = 1
    with pytest.raises(ReceiptError, match=r"unknown \['round'\]"):
        check_receipt(added, SIGNER.public_key_hex)
    added["receipt"]["v"] = 2
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(added, SIGNER.public_key_hex)
    taken = _in_round()
    del taken["receipt"]["round"]
    with pytest.raises(ReceiptError, match=r"missing \['round'\]"):
        check_receipt(taken, SIGNER.public_key_hex)
    taken["receipt"]["v"] = 1
    with pytest.raises(ReceiptError, match="signature does not match"):
        check_receipt(taken, SIGNER.public_key_hex)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3", 'receipt.round must be int, got "3"'),
        (None, "receipt.round must be int, got null"),
        (True, "receipt.round must be int, got true"),
        (0, r"receipt.round must be a round number \(1 or more\), not 0"),
    ],
)
def test_a_malformed_round_is_rejected_with_its_reason(value: object, reason: str) -> None:
    doc = _in_round()
    doc["receipt"]["round"] = value
    with pytest.raises(ReceiptError, match=reason):
        check_receipt(doc, SIGNER.public_key_hex)


def _respelt(signature: str) -> str:
    """The same 64 bytes, spelt with spare bits set in the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) | 0b11]
    assert base64.urlsafe_b64decode(signature[:-1] + last + "==") == base64.urlsafe_b64decode(
        signature + "=="
    )
    return signature[:-1] + last


def _without(field: str) -> dict[str, Any]:
    doc = _issued()
    del doc["receipt"][field]
    return doc


def _with(field: str, value: Any) -> dict[str, Any]:
    doc = _issued()
    doc["receipt"][field] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([], "JSON object"),
        ("receipt", "JSON object"),
        ({"receipt": {}}, "exactly receipt and signature"),
        ({**_issued(), "note": "hi"}, "exactly receipt and signature"),
        ({"receipt": [], "signature": _issued()["signature"]}, "receipt must be an object"),
        ({**_issued(), "signature": 7}, "signature must be 86 base64url"),
        ({**_issued(), "signature": _issued()["signature"] + "=="}, "signature must be 86"),
        ({**_issued(), "signature": _respelt(_issued()["signature"])}, "not canonical"),
        (_without("seed_hash"), r"missing \['seed_hash'\]"),
        (_with("extra", 1), r"unknown \['extra'\]"),
        (_with("number", "7"), 'receipt.number must be int, got "7"'),
        (_with("number", 7.0), "receipt.number must be int, got 7.0"),
        (_with("v", True), "receipt.v must be int, got true"),
        (_with("beacon_round", "1"), "receipt.beacon_round must be int or null"),
        (_with("entry_id", None), "receipt.entry_id must be str, got null"),
    ],
)
def test_a_malformed_receipt_is_rejected_with_its_reason(doc: object, reason: str) -> None:
    with pytest.raises(ReceiptError, match=reason):
        check_receipt(doc, SIGNER.public_key_hex)


@pytest.mark.parametrize("key", ["", "zz" * 32, SIGNER.public_key_hex[:-2]])
def test_a_malformed_public_key_is_rejected(key: str) -> None:
    with pytest.raises(ReceiptError, match="public key must be 64 hex"):
        check_receipt(_issued(), key)


def test_a_signer_issues_only_placed_entries() -> None:
    with pytest.raises(ValueError, match="placed entry"):
        SIGNER.issue("spring-drop", "x", "sold_out", 0, SEED_HASH, None)
    with pytest.raises(ValueError, match="numbered from 1"):
        SIGNER.issue("spring-drop", "x", "buffered", 0, SEED_HASH, None, round_number=0)


def test_the_key_is_derived_from_the_secret_key_and_stays_the_same() -> None:
    one = ReceiptSigner.from_settings(Settings(secret_key="deployment secret"))
    again = ReceiptSigner.from_settings(
        Settings.from_env({"FAIRDROP_SECRET_KEY": "deployment secret"})
    )
    assert one.public_key_hex == again.public_key_hex
    other = ReceiptSigner.from_settings(Settings(secret_key="another secret"))
    assert other.public_key_hex != one.public_key_hex
    # HKDF-SHA256, no salt, info "fairdrop receipts v1" (RFC 5869, written out
    # here with hmac so the derivation the docs state is what the code does).
    prk = hmac.new(b"\x00" * 32, b"deployment secret", hashlib.sha256).digest()
    okm = hmac.new(prk, HKDF_INFO + b"\x01", hashlib.sha256).digest()
    assert receipt_seed("", "deployment secret") == okm
    assert one.public_key_hex == ReceiptSigner(okm).public_key_hex


def test_fairdrop_receipt_key_wins_over_the_secret_key() -> None:
    env = {"FAIRDROP_SECRET_KEY": "deployment secret", "FAIRDROP_RECEIPT_KEY": SEED.hex()}
    settings = Settings.from_env(env)
    assert ReceiptSigner.from_settings(settings).public_key_hex == SIGNER.public_key_hex
    # Upper-case hex is the same key; the key travels to child processes.
    upper = Settings.from_env({**env, "FAIRDROP_RECEIPT_KEY": SEED.hex().upper()})
    assert ReceiptSigner.from_settings(upper).public_key_hex == SIGNER.public_key_hex
    assert Settings.from_env(settings.as_env()).receipt_key == SEED.hex()
    assert SEED.hex() not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "says"),
    [("ab" * 31, "62 long"), ("ab" * 33, "66 long"), ("xy" * 32, "not all hex")],
)
def test_a_bad_receipt_key_is_refused_by_the_settings_without_showing_it(
    raw: str, says: str
) -> None:
    env = {"FAIRDROP_SECRET_KEY": "s", "FAIRDROP_RECEIPT_KEY": raw}
    with pytest.raises(SettingsError, match=f"FAIRDROP_RECEIPT_KEY must be 64 hex.*{says}") as e:
        Settings.from_env(env)
    assert raw not in str(e.value)
    # Settings made in code are checked when the signer is made.
    with pytest.raises(SettingsError, match=says):
        ReceiptSigner.from_settings(Settings(secret_key="s", receipt_key=raw))


def test_without_any_key_there_is_no_signer() -> None:
    with pytest.raises(SettingsError, match="FAIRDROP_RECEIPT_KEY or FAIRDROP_SECRET_KEY"):
        ReceiptSigner.from_settings(Settings())
