"""A fan's proof of work, solved in Python as a page solves it in a Web Worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from altcha import v1 as altcha_v1


def solve(challenge: Mapping[str, Any]) -> str:
    """What a fan sends as ``altcha`` for a challenge the server gave (``GET /challenge``).

    A page solves it in a Web Worker (static/pow_worker.js); here it is
    altcha's own solver, one SHA-256 per number tried, in the caller's process
    (a bot pays its bill in CPU).
    """
    algorithm = altcha_v1.SHA256
    found = altcha_v1.solve_challenge(
        challenge["challenge"], challenge["salt"], algorithm, challenge["maxnumber"]
    )
    if found is None:
        raise ValueError("no number in 0..maxnumber solves this challenge")
    payload = altcha_v1.Payload(
        algorithm, challenge["challenge"], found.number, challenge["salt"], challenge["signature"]
    )
    return payload.to_base64()


def solution_for(challenge: Mapping[str, Any]) -> str | None:
    """The challenge solved, or None when the sale asks for no proof."""
    return solve(challenge) if challenge.get("required") else None
