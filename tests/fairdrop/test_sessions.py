"""Sessions and entrant ids (fairdrop/tokens.py), and the policies an identity
satisfies (fairdrop/identity.py policies_for).

One person is one entrant: every spelling of one mailbox, every sign-in and
every device give the same entrant id in an event, and nothing else does.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairdrop.errors import FairdropError
from fairdrop.identity import (
    ANON,
    EMAIL,
    MEMBER,
    OIDC,
    Identity,
    email_identity,
    member_identity,
    policies_for,
)
from fairdrop.tokens import Session, Signer, anonymous_identity

SIGNER = Signer("identity-test-key")
NOW = 1_800_000_000

_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)


def _dotted(local: str, dots: list[int]) -> str:
    return "".join(
        c + ("." if 0 < i + 1 < len(local) and i + 1 in dots else "") for i, c in enumerate(local)
    )


@given(
    local=_LOCAL,
    dots=st.lists(st.integers(min_value=1, max_value=19), max_size=3),
    tag=st.one_of(st.just(""), _LOCAL),
    upper=st.booleans(),
    domain=st.sampled_from(["gmail.com", "googlemail.com"]),
)
def test_every_spelling_of_a_gmail_box_is_one_entrant(
    local: str, dots: list[int], tag: str, upper: bool, domain: str
) -> None:
    address = f"{_dotted(local, dots)}{'+' + tag if tag else ''}@{domain}"
    if upper:
        address = address.upper()
    plain = SIGNER.entrant_id("ev", email_identity(f"{local}@gmail.com"))
    assert SIGNER.entrant_id("ev", email_identity(address)) == plain


def test_entrant_ids_are_one_per_identity_and_event() -> None:
    anna = email_identity("anna@example.com")
    ids = {
        SIGNER.entrant_id("ev1", anna),
        SIGNER.entrant_id("ev2", anna),  # unlinkable across events
        SIGNER.entrant_id("ev1", email_identity("bob@example.com")),
        SIGNER.entrant_id("ev1", Identity(OIDC, "anna@example.com", "https://issuer.example")),
        SIGNER.entrant_id("ev1", Identity(OIDC, "anna@example.com", "https://other.example")),
        SIGNER.entrant_id("ev1", member_identity("ev1", "anna@example.com")),
        SIGNER.entrant_id("ev1", anonymous_identity()),
        SIGNER.entrant_id("ev1", anonymous_identity()),
        Signer("another-key").entrant_id("ev1", anna),
    }
    assert len(ids) == 9
    # Ten sign-ins of one identity are one entrant.
    assert {SIGNER.entrant_id("ev1", email_identity("Anna@Example.com")) for _ in range(10)} == {
        SIGNER.entrant_id("ev1", anna)
    }


def test_policies_each_identity_satisfies() -> None:
    assert policies_for(anonymous_identity(), "ev") == "open"
    assert policies_for(email_identity("a@example.com"), "ev") == "open email list"
    assert policies_for(Identity(OIDC, "sub", "https://issuer.example"), "ev") == "open login"
    assert policies_for(member_identity("ev", "E1"), "ev") == "open list"
    # An id on one event's list is nobody anywhere else.
    assert policies_for(member_identity("other", "E1"), "ev") == ""


def test_a_session_round_trips_and_then_expires() -> None:
    session = SIGNER.new_session(email_identity("a@example.com"), 3600, now_s=NOW)
    cookie = SIGNER.sign_session(session)
    assert SIGNER.session_from_cookie(cookie, now_s=NOW + 3599) == session
    assert SIGNER.session_from_cookie(cookie, now_s=NOW + 3600) is None
    assert SIGNER.session_from_cookie(cookie[:-2] + "xx", now_s=NOW) is None
    assert Signer("another-key").session_from_cookie(cookie, now_s=NOW) is None


@pytest.mark.parametrize(
    "payload",
    [
        "a string",
        [EMAIL, "", "a@example.com", NOW],
        [EMAIL, "", "", NOW, NOW + 60],
        [EMAIL, "", "a@example.com", "then", NOW + 60],
        [MEMBER, "ev", "x" * 300, NOW, NOW + 60],
        [ANON, 1, "abc", NOW, NOW + 60],
    ],
)
def test_a_signed_but_malformed_session_is_no_session(payload: object) -> None:
    # Signed with the right key and salt, as a leaked or older format would be.
    cookie = SIGNER._session.dumps(payload)
    assert SIGNER.session_from_cookie(cookie, now_s=NOW) is None


def test_a_session_cookie_is_no_admission_and_no_personal_link() -> None:
    cookie = SIGNER.sign_session(Session(anonymous_identity(), NOW, NOW + 60))
    with pytest.raises(FairdropError, match="not valid"):
        SIGNER.check_pass(cookie)
    with pytest.raises(FairdropError, match="not valid"):
        SIGNER.check_admission(cookie, "ev", "fan", now_ms=NOW * 1000)
