"""Proof of work on join: ALTCHA challenges bound to a sale and a fan, each used once.

An open sale cannot tell people apart, so it makes every new entrant cost some
CPU instead: nothing a person notices while the page loads, a bill paid once
per entrant by a script that mints thousands. The scheme is ALTCHA's (v1, the
``altcha`` library): the server picks a secret number n in 0..maxnumber and
sends SHA-256(salt + n) with an HMAC of it; the page tries numbers in a Web
Worker (static/pow_worker.js) until one hashes to the challenge, maxnumber / 2
tries on average. A sale's difficulty is that maxnumber
(``Event.pow_difficulty``; 0 asks nothing).

- A challenge names, in its signed salt, the sale, who asked (the session's
  entrant id, or ``NO_SESSION`` for a browser without one: its join makes the
  session, so a script without cookies mints none for free) and its expiry.
- A solution is taken once: its challenge hash is claimed with ``SET NX`` in
  Redis (``EventKeys.pow_used``) for the rest of the challenge's life, so a
  replay, from this session or any other, is refused.
- An entrant who has proved is kept in the sale's ``pow_proven`` set: a
  reload, a second tab or device, the socket's join and the join of a page
  opened before the window never ask again.
- Each refusal (no proof, one that does not check out, one used already) is
  counted for the sale's fairness report (buffer/entry_tallies.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from altcha import v1 as altcha_v1
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.entry_tallies import tally_refusal
from fairdrop.connections import AsyncSaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import allowed
from fairdrop.settings import POW_MAX
from fairdrop.tokens import anonymous_identity
from purchase.models import Event
from queue_engine.keys import EventKeys
from web.auth import session_of
from web.catalog import iso
from web.context import WebContext, context_of
from web.validation import invalid

ALGORITHM = altcha_v1.SHA256
# Long enough for a slow phone and a fan reading the page; short enough that a
# farm cannot stock up solutions for the night.
CHALLENGE_SECONDS = 600
# Who asked, for a browser with no session yet (an entrant id is 22 characters).
NO_SESSION = "new"
# A payload of ours is about 400 characters of base64.
MAX_SOLUTION_CHARS = 2_000
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Proof:
    """A solution that checks out: its challenge (the id it is used under) and its end."""

    challenge_id: str
    expires_at: int  # epoch seconds


def challenge_path(event_id: str) -> str:
    return f"/api/events/{event_id}/challenge"


def new_challenge(
    key: bytes, event_id: str, asker: str, max_number: int, now_s: float | None = None
) -> dict[str, Any]:
    """A signed challenge for this sale and this asker, in the shape ALTCHA solvers read."""
    now = time.time() if now_s is None else now_s
    expires = datetime.fromtimestamp(int(now) + CHALLENGE_SECONDS, UTC)
    challenge = altcha_v1.create_challenge(
        altcha_v1.ChallengeOptions(
            algorithm=ALGORITHM,
            max_number=max_number,
            hmac_key=key,
            expires=expires,
            params={"event": event_id, "fan": asker},
        )
    )
    return {
        "required": True,
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
        "expires_at": iso(expires),
    }


def _refused(why: str, event_id: str) -> FairdropError:
    return FairdropError(
        ErrorCode.INVALID_PROOF_OF_WORK,
        f"{why}: solve a new challenge from GET {challenge_path(event_id)} and join again",
    )


def _payload(solution: str) -> altcha_v1.PayloadType | None:
    """The solution's JSON object if it has the fields and types of an ALTCHA v1 payload.

    The library reads any JSON it is given; a list, a number or a salt that is
    not text must be a 403 here, not a 500 there.
    """
    try:
        value: Any = json.loads(base64.b64decode(solution, validate=True))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    challenge, signature, salt = (value.get(k) for k in ("challenge", "signature", "salt"))
    number = value.get("number")
    if value.get("algorithm") != ALGORITHM or not isinstance(salt, str) or len(salt) > 500:
        return None
    # bool is an int in Python; true is not a number tried.
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= POW_MAX:
        return None
    if not all(isinstance(h, str) and HEX64.fullmatch(h) for h in (challenge, signature)):
        return None
    return cast(altcha_v1.PayloadType, value)


def _param(payload: altcha_v1.PayloadType, name: str) -> str:
    values = altcha_v1.extract_params(payload).get(name) or [""]
    return values[0]


def check_solution(
    key: bytes, solution: str, event_id: str, asker: str, now_s: float | None = None
) -> Proof:
    """The proof in a join's solution, if this server signed its challenge for this
    sale and this asker, it is solved, and it has not expired. Whether it was used
    already is Redis's to say (``take_proof``)."""
    payload = _payload(solution) if len(solution) <= MAX_SOLUTION_CHARS else None
    if payload is None:
        raise _refused("altcha is not an ALTCHA solution (base64 of its JSON payload)", event_id)
    # Checks the signature and that the number solves the challenge; the
    # expiry is checked below, where a missing one is a refusal too.
    verified, _ = altcha_v1.verify_solution(payload, key, check_expires=False)
    if not verified:
        raise _refused("this solution does not solve a challenge of this server", event_id)
    now = time.time() if now_s is None else now_s
    expires = _param(payload, "expires")
    if not expires.isdigit() or int(expires) <= now:
        raise _refused("this challenge has expired", event_id)
    if _param(payload, "event") != event_id:
        raise _refused("this challenge is for another sale", event_id)
    if _param(payload, "fan") != asker:
        raise _refused("this challenge was given to another session", event_id)
    return Proof(payload["challenge"], int(expires))


async def take_proof(client: AsyncSaleRedis, event_id: str, proof: Proof, entrant_id: str) -> None:
    """Uses the proof up, once, and records that this entrant has proved.

    The claim is the atomic step (SET NX): of two joins with one solution, one
    wins. The entrant is added after the claim, so a process dying in between
    costs the fan a solution, never anyone a free entry.
    """
    keys = EventKeys(event_id)
    ttl = max(1, proof.expires_at - int(time.time()))
    if not await client.set(keys.pow_used(proof.challenge_id), entrant_id, nx=True, ex=ttl):
        await tally_refusal(client, event_id, "pow_replayed")
        raise _refused("this solution was used already", event_id)
    await client.sadd(keys.pow_proven, entrant_id)


async def has_proved(client: AsyncSaleRedis, event_id: str, entrant_id: str) -> bool:
    return bool(await client.sismember(EventKeys(event_id).pow_proven, entrant_id))


def solution_in(body: dict[str, Any]) -> str | None:
    """The solution a join body carries (``{"altcha": "<base64 payload>"}``), if any."""
    unknown = sorted(set(body) - {"altcha"})
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)}: a join takes only altcha")
    solution = body.get("altcha")
    if solution is not None and not isinstance(solution, str):
        raise invalid("altcha must be a string: the base64 ALTCHA payload")
    return solution


async def require_proof(
    ctx: WebContext, event: Event, entrant_id: str, solution: str | None, asker: str
) -> None:
    """Lets a join go on to join.lua, or refuses it for want of a proof of work.

    Without a solution, an entrant who proved before goes on. This reads
    ``pow_proven`` and joins in a second step; that cannot let in anyone who
    has not proved, because the set only grows (an entrant in it proved, and
    one not in it is asked for a proof), and join.lua never places an entrant
    that did not pass here. With a solution, it must check out and be unused,
    whether or not this entrant needed it.
    """
    if event.pow_difficulty == 0:
        return
    if solution is None:
        if await has_proved(ctx.client, event.id, entrant_id):
            return
        await tally_refusal(ctx.client, event.id, "pow_missing")
        raise FairdropError(
            ErrorCode.PROOF_OF_WORK_REQUIRED,
            f"this sale asks each new fan's browser for a proof of work: solve the "
            f"challenge from GET {challenge_path(event.id)} and join again with "
            '{"altcha": "<base64 solution>"}',
        )
    try:
        proof = check_solution(ctx.signer.proof_of_work_key, solution, event.id, asker)
    except FairdropError:
        await tally_refusal(ctx.client, event.id, "pow_invalid")
        raise
    await take_proof(ctx.client, event.id, proof, entrant_id)


async def issue_challenge(request: Request) -> JSONResponse:
    """A challenge for this browser, or ``{"required": false}`` when its join needs none.

    None is needed when the sale asks no proof or this fan has proved already
    (a reload, a second tab). A browser the sale would turn away is told to
    sign in first, before it spends any work.
    """
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    event = record.event
    answer: dict[str, Any] = {"required": False, "pow_difficulty": event.pow_difficulty}
    if event.pow_difficulty:
        session = session_of(request, ctx.signer)
        identity = session.identity if session else anonymous_identity()
        if not allowed(event.access, identity, event_id):
            raise FairdropError(
                ErrorCode.SIGN_IN_REQUIRED, "this sale lets in signed-in fans: sign in first"
            )
        asker = ctx.signer.entrant_id(event_id, identity) if session else NO_SESSION
        if session is None or not await has_proved(ctx.client, event_id, asker):
            key = ctx.signer.proof_of_work_key
            answer.update(new_challenge(key, event_id, asker, event.pow_difficulty))
    # A challenge is for one browser, once: no cache may keep or share it.
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


routes = [Route("/api/events/{event_id}/challenge", issue_challenge, methods=["GET"])]
