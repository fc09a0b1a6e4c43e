"""fairdrop/identity.py normalise_email: one mailbox is one identity, however it is spelled."""

from __future__ import annotations

import pytest

from fairdrop.identity import EMAIL, email_identity, normalise_email

SAME_MAILBOX = {
    # Case never tells mailboxes apart; spaces around a pasted address go.
    "  Fan@Example.TEST ": "fan@example.test",
    # Gmail ignores dots and +tags, and googlemail.com is gmail.com.
    "Ada.Lovelace+drops@GMail.com": "adalovelace@gmail.com",
    "a.d.a.lovelace@googlemail.com": "adalovelace@gmail.com",
    "ADALOVELACE@gmail.com": "adalovelace@gmail.com",
    # Outlook, iCloud and the like drop +tags but keep dots.
    "First.Last+shop@Outlook.com": "first.last@outlook.com",
    "first.last@icloud.com": "first.last@icloud.com",
    # Elsewhere dots and tags may name other mailboxes: both stay.
    "first.last+tag@example.test": "first.last+tag@example.test",
}

NOT_ADDRESSES = [
    "",
    "fan",
    "fan@localhost",  # no dot in the domain
    "fan@@example.test",
    "fan@home@example.test",
    "Fan <fan@example.test>",
    "fan@example.test, thief@example.test",
    "fan@example.test\r\nBcc: thief@example.test",
    "fan @example.test",
    "fän@example.test",
    "a" * 243 + "@example.test",  # 256 characters
    # Nothing left of the mailbox once Gmail's dots and tags go.
    "+tag@gmail.com",
    "...@gmail.com",
]


@pytest.mark.parametrize(("typed", "normalised"), SAME_MAILBOX.items())
def test_one_spelling_per_mailbox(typed: str, normalised: str) -> None:
    assert normalise_email(typed) == normalised
    # Normalising is idempotent: what is stored normalises to itself.
    assert normalise_email(normalised) == normalised


@pytest.mark.parametrize("typed", NOT_ADDRESSES)
def test_what_is_not_an_address_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        normalise_email(typed)


def test_two_spellings_of_one_mailbox_are_one_identity() -> None:
    phone = email_identity("Ada.Lovelace+drops@GMail.com")
    laptop = email_identity("adalovelace@googlemail.com")
    assert phone == laptop
    assert phone.kind == EMAIL and phone.key() == laptop.key()
    assert email_identity("ada.lovelace@example.test") != email_identity("adalovelace@example.test")
