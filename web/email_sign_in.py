"""Email sign-in: a fan proves an address with a magic link or a six-digit code.

``POST /api/sign-in/email`` makes a challenge (128 random bits) in Redis for
FAIRDROP_SIGN_IN_MINUTES and has the worker email its link and code. The link
``/sign-in/email/{token}`` (signed, fairdrop/tokens.py) signs in the browser
that opens it; ``POST /api/sign-in/email/code`` signs in a browser that types
the code. Either uses the challenge up, in one step (web/lua/use_sign_in.lua).
Any proven address is an identity (there is no account table), so the answer
to "send me a link" is the same for every address.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from rq import Retry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import MAX_EMAIL, email_identity, normalise_email
from fairdrop.tokens import SignInLink
from web.context import WebContext, context_of
from web.rate_limits import Action
from web.scripts import web_script
from web.session_routes import sign_in_as
from web.sign_in_keys import address_key, challenge_key
from web.validation import invalid, read_json_object, text_field

# secrets.token_urlsafe(16): 128 bits, 22 characters.
CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{22}")
SIX_DIGITS = re.compile(r"[0-9]{6}")
# A path on this site: one "/" not followed by another ("//host" is another
# site), printable ASCII without spaces or "\" (browsers read "/\host" as "//host").
LOCAL_PATH = re.compile(r"/(?!/)[!-\[\]-~]*")
MAX_NEXT = 512
# Signed links are about 130 characters; anything far longer is not one.
MAX_TOKEN = 1_024
# A challenge closes after this many wrong codes: 5 guesses in a million.
WRONG_CODES_ALLOWED = 5
# Challenges one address may have asked for within one sign-in lifetime. With
# the cap above, a stranger guessing codes gets 25 tries per lifetime, not
# unlimited fresh challenges (and it stops the address being flooded with mail).
CHALLENGES_PER_ADDRESS = 5
# Sent by the worker (an RQ job), not in this process's thread pool: the
# answer then neither waits on the SMTP server (up to 10 s of a thread per
# fan) nor changes with it, and a server that refuses for a moment gets
# retries while the link still lives (the job sends nothing once it expired).
SIGN_IN_EMAIL_RETRY = Retry(max=3, interval=[2, 10, 30])


def _next_path(body: dict[str, Any]) -> str:
    """Where the link leads once used: a local path, never another site."""
    if body.get("next") is None:
        return "/"
    next_path = text_field(body, "next", MAX_NEXT)
    if not LOCAL_PATH.fullmatch(next_path):
        raise invalid("next must be a path on this site, starting with a single /")
    return next_path


def _address(body: dict[str, Any]) -> str:
    try:
        return normalise_email(text_field(body, "email", MAX_EMAIL))
    except ValueError as exc:
        raise invalid("email must be one address like name@example.com (ASCII)") from exc


async def _count_challenge(ctx: WebContext, address: str, lifetime_s: int) -> None:
    """Counts one more challenge for ``address``; refuses past the cap.

    One MULTI: the counter starts with the window's expiry (SET NX) and INCR
    keeps it, so the count and its window are set together.
    """
    key = address_key(address)
    async with ctx.client.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=lifetime_s, nx=True)
        pipe.incr(key)
        _, count = await pipe.execute()
    if count > CHALLENGES_PER_ADDRESS:
        raise FairdropError(
            ErrorCode.TOO_MANY_SIGN_INS,
            "too many sign-ins asked for this address: use one of the emails sent, "
            f"or ask again within {lifetime_s // 60} minutes",
        )


async def _new_challenge(
    ctx: WebContext, address: str, next_path: str, lifetime_s: int
) -> tuple[str, str, int]:
    """A fresh challenge in Redis: (its id, its six-digit code, when it ends)."""
    challenge_id = secrets.token_urlsafe(16)
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires_at = int(time.time()) + lifetime_s
    key = challenge_key(challenge_id)
    digest = ctx.signer.sign_in_code_digest(challenge_id, code)
    fields = ["state", "open", "email", address, "next", next_path, "code", digest, "wrong", "0"]
    async with ctx.client.pipeline(transaction=True) as pipe:
        pipe.hset(key, items=fields)
        # The link's own expiry: the challenge and its token end together.
        pipe.expireat(key, expires_at)
        await pipe.execute()
    return challenge_id, code, expires_at


async def _mail_sign_in(
    ctx: WebContext, address: str, challenge_id: str, code: str, expires_at: int
) -> None:
    """Queues the email with the challenge's link and code (purchase.jobs.send_sign_in_email)."""
    token = ctx.signer.sign_sign_in_link(SignInLink(challenge_id, address, expires_at))
    lifetime_s = ctx.settings.sign_in_minutes * 60
    await run_in_threadpool(
        ctx.queue.enqueue,
        "purchase.jobs.send_sign_in_email",
        address,
        challenge_id,
        f"{ctx.settings.public_base_url}/sign-in/email/{token}",
        code,
        expires_at,
        retry=SIGN_IN_EMAIL_RETRY,
        # The arguments are a live link and code: RQ keeps the job no longer
        # than they work, drops it once sent, and describes it without them.
        ttl=lifetime_s,
        result_ttl=0,
        failure_ttl=lifetime_s,
        description="sign-in email",
    )


async def start_email_sign_in(request: Request) -> JSONResponse:
    """``{"email", "next"?}``: makes a challenge and has its link and code emailed."""
    ctx = context_of(request)
    if not ctx.settings.emails_enabled:
        raise FairdropError(
            ErrorCode.EMAIL_SIGN_IN_NOT_CONFIGURED,
            "email sign-in needs an SMTP server: set FAIRDROP_SMTP_HOST",
        )
    # Every email costs, and goes to someone: counted per client address too.
    await ctx.limits.spend(request, Action.SIGN_IN)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    address = _address(body)
    next_path = _next_path(body)
    lifetime_s = ctx.settings.sign_in_minutes * 60
    await _count_challenge(ctx, address, lifetime_s)
    challenge_id, code, expires_at = await _new_challenge(ctx, address, next_path, lifetime_s)
    await _mail_sign_in(ctx, address, challenge_id, code, expires_at)
    return JSONResponse({"challenge": challenge_id, "expires_in": lifetime_s}, status_code=202)


def _refusal(outcome: list[Any], by_link: bool) -> FairdropError:
    status = outcome[0].decode()
    if status == "unknown" and by_link:
        # The token was still live, so its challenge expired a moment ago (or
        # Redis lost it): either way it is over.
        return FairdropError(ErrorCode.LINK_EXPIRED, "this sign-in link has expired")
    if status == "unknown":
        return FairdropError(
            ErrorCode.UNKNOWN_SIGN_IN, "no such sign-in, or it has expired: ask for a new code"
        )
    if status == "used":
        return FairdropError(
            ErrorCode.SIGN_IN_USED, "this sign-in was used already: ask for a new one if needed"
        )
    if status == "dead":
        return FairdropError(
            ErrorCode.TOO_MANY_ATTEMPTS, "too many wrong codes: ask for a new sign-in"
        )
    left = int(outcome[1])
    if left == 0:
        return FairdropError(
            ErrorCode.WRONG_CODE, "wrong code, and that was the last try: ask for a new sign-in"
        )
    return FairdropError(ErrorCode.WRONG_CODE, f"wrong code: {left} tries left")


async def _use_challenge(
    ctx: WebContext, challenge_id: str, code_digest: str | None
) -> tuple[str, str]:
    """Uses the challenge up, by its link (no digest) or its code: (address, next path)."""
    by_link = code_digest is None
    script = web_script(ctx.client, "use_sign_in")
    args = ["link" if by_link else "code", code_digest or "", WRONG_CODES_ALLOWED]
    outcome: list[Any] = await script(keys=[challenge_key(challenge_id)], args=args)
    if outcome[0] != b"ok":
        raise _refusal(outcome, by_link)
    return outcome[1].decode(), outcome[2].decode()


async def follow_sign_in_link(request: Request) -> Response:
    """The emailed link: signs this browser in and goes on to the page that asked."""
    ctx = context_of(request)
    await ctx.limits.admit(request)
    token = request.path_params["token"]
    if len(token) > MAX_TOKEN:
        raise FairdropError(ErrorCode.INVALID_LINK, "this sign-in link is not valid")
    link = ctx.signer.check_sign_in_link(token)
    if request.method == "HEAD":
        # Starlette answers HEAD on GET routes; link checkers and previews send
        # it, and must not use up the fan's one sign-in.
        return Response(status_code=204)
    address, next_path = await _use_challenge(ctx, link.challenge_id, None)
    response = RedirectResponse(next_path, status_code=303)
    sign_in_as(response, ctx, email_identity(address))
    return response


async def enter_sign_in_code(request: Request) -> JSONResponse:
    """``{"challenge", "code"}``: signs in a browser that has the code but not the link."""
    ctx = context_of(request)
    await ctx.limits.admit(request)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    challenge_id = text_field(body, "challenge", 22, CHALLENGE_ID)
    code = text_field(body, "code", 6, SIX_DIGITS)
    digest = ctx.signer.sign_in_code_digest(challenge_id, code)
    address, _ = await _use_challenge(ctx, challenge_id, digest)
    response = JSONResponse({"signed_in_as": address})
    sign_in_as(response, ctx, email_identity(address))
    return response


routes = [
    Route("/api/sign-in/email", start_email_sign_in, methods=["POST"]),
    Route("/api/sign-in/email/code", enter_sign_in_code, methods=["POST"]),
    Route("/sign-in/email/{token}", follow_sign_in_link, methods=["GET"]),
]
