"""Who an entrant is: the identity a sale's access policy asks for.

A sale names what makes an entrant (``ACCESS_POLICIES``); a fan's session
carries one :class:`Identity`. Everything in Redis (buffer, queue number,
admission, per-person counts) hangs on an entrant id derived from the identity
and the event (fairdrop/tokens.py ``Signer.entrant_id``), never on a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# open: anyone; email: a proven address; login: an OpenID Connect account;
# list: only identities the organiser imported.
ACCESS_POLICIES = ("open", "email", "login", "list")

# The kinds of identity a session can carry.
ANON = "anon"  # a browser session and nothing more (open sales only)
EMAIL = "email"  # an address proven with a magic link or its code
OIDC = "oidc"  # issuer + subject from an OpenID Connect provider
MEMBER = "member"  # an organiser-issued id on one event's list

# Which identity kinds each policy lets in (list also needs the identity on the list).
KINDS_FOR_POLICY: dict[str, frozenset[str]] = {
    "open": frozenset({ANON, EMAIL, OIDC, MEMBER}),
    "email": frozenset({EMAIL}),
    "login": frozenset({OIDC}),
    "list": frozenset({EMAIL, MEMBER}),
}

# Organiser-issued ids: short, printable, safe in a CSV cell and a URL.
MEMBER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_EMAIL = 254

# Domains whose mail servers ignore dots in the local part and what follows a
# "+": the mailbox is the same, so the identity must be the same.
_DOTS_AND_TAGS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Domains that deliver "name+tag@" to "name@" but treat dots as significant.
_TAGS_ONLY = frozenset(
    {
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "proton.me",
        "protonmail.com",
    }
)
# ASCII only, one @, a dotted domain: nothing that could end a header line or
# add a recipient ever reaches an email.
EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def is_email(address: str) -> bool:
    return len(address) <= MAX_EMAIL and EMAIL_ADDRESS.fullmatch(address) is not None


def normalise_email(address: str) -> str:
    """The one spelling of a mailbox: what makes two addresses the same person.

    The whole address is lower-cased (no provider we know of delivers by
    case). For ``_DOTS_AND_TAGS`` domains dots and a ``+tag`` are dropped and
    googlemail.com becomes gmail.com; for ``_TAGS_ONLY`` domains the ``+tag``
    is dropped. Raises ValueError for something that is not an address.
    """
    address = address.strip()
    if not is_email(address):
        raise ValueError("not an email address")
    local, _, domain = address.lower().rpartition("@")
    if domain in _DOTS_AND_TAGS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = _DOTS_AND_TAGS[domain]
    elif domain in _TAGS_ONLY:
        local = local.split("+", 1)[0]
    if not local:
        raise ValueError("not an email address")
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Identity:
    """One person as a sale knows them.

    ``scope`` is the OpenID Connect issuer for ``oidc``, the event id for
    ``member`` (an organiser's ids mean nothing outside their event), and empty
    otherwise.
    """

    kind: str
    subject: str
    scope: str = ""

    def key(self) -> str:
        """The canonical text entrant ids are derived from (unit separators cannot be typed)."""
        return f"{self.kind}\x1f{self.scope}\x1f{self.subject}"

    def label(self) -> str:
        """What an organiser's export shows: the email, login or id; empty when anonymous."""
        if self.kind == EMAIL:
            return f"email:{self.subject}"
        if self.kind == OIDC:
            return f"oidc:{self.scope} {self.subject}"
        if self.kind == MEMBER:
            return f"member:{self.subject}"
        return ""

    @property
    def signed_in(self) -> bool:
        return self.kind != ANON


def email_identity(address: str) -> Identity:
    return Identity(EMAIL, normalise_email(address))


def member_identity(event_id: str, member_id: str) -> Identity:
    if MEMBER_ID.fullmatch(member_id) is None:
        raise ValueError(
            "an id is 1 to 64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return Identity(MEMBER, member_id, event_id)


def allowed(policy: str, identity: Identity, event_id: str) -> bool:
    """Whether this identity may enter this sale under its policy (before any list)."""
    if identity.kind not in KINDS_FOR_POLICY.get(policy, frozenset()):
        return False
    # An id on one event's list is nobody at another event.
    return identity.kind != MEMBER or identity.scope == event_id


def policies_for(identity: Identity, event_id: str) -> str:
    """The policies this identity satisfies at this event, as join.lua reads them."""
    return " ".join(p for p in ACCESS_POLICIES if allowed(p, identity, event_id))
