"""Every Redis key of email sign-in, built in one place.

A sign-in belongs to an address, not to a sale, so these keys carry no
``{e:<id>}`` tag. Each script call or transaction touches one key, so Redis
Cluster can place them anywhere.
"""

from __future__ import annotations

import hashlib

PREFIX = "fairdrop:sign_in"


def challenge_key(challenge_id: str) -> str:
    """Hash: state (open | used | dead), email, next, code (its keyed digest), wrong."""
    return f"{PREFIX}:challenge:{challenge_id}"


def address_key(address: str) -> str:
    """Counter: challenges asked for this (normalised) address in the current window.

    Named by a digest so addresses stay out of key names (MONITOR, SCAN, slow
    logs); it hides nothing from whoever can read the challenges themselves.
    """
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    return f"{PREFIX}:address:{digest}"
