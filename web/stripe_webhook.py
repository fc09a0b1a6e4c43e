"""Stripe's webhook: signed ``payment_intent.*`` events in, one RQ job each.

The endpoint only checks and hands over, so Stripe gets its 200 at once: the
signature is verified with ``stripe.Webhook.construct_event`` (which also
refuses events older than five minutes, so a captured delivery cannot be
replayed later), the event id is claimed once in Redis, and the work runs in
purchase/payment_events.py on the worker.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import stripe
from rq import Retry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.stripe_payments import IntentFacts
from queue_engine.keys import EventKeys
from web.context import context_of
from web.validation import read_body

log = logging.getLogger("fairdrop.stripe")

WEBHOOK_PATH = "/api/payments/stripe/webhook"
HANDLED = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
)
# A payment_intent event is a few KB; this leaves room and refuses floods.
MAX_EVENT_BYTES = 256 * 1024
# Stripe retries a delivery for up to three days; remember ids a while longer.
SEEN_FOR_SECONDS = 7 * 24 * 3600
# The job confirms or refunds money: it must outlive a database blip.
EVENT_RETRY = Retry(max=10, interval=[1, 2, 5, 10, 30])


async def stripe_webhook(request: Request) -> JSONResponse:
    ctx = context_of(request)
    secret = ctx.settings.stripe_webhook_secret
    if ctx.settings.payment_provider != "stripe" or not secret:
        raise FairdropError(ErrorCode.PAYMENTS_NOT_CONFIGURED, "Stripe payments are not set up")
    payload = await read_body(request, MAX_EVENT_BYTES)
    signature = request.headers.get("stripe-signature")
    if not signature:
        raise FairdropError(ErrorCode.BAD_SIGNATURE, "the Stripe-Signature header is missing")
    try:
        # stripe 16's objects are not dicts: one plain copy to read from.
        event = stripe.Webhook.construct_event(payload, signature, secret).to_dict()
    except stripe.SignatureVerificationError as exc:
        raise FairdropError(
            ErrorCode.BAD_SIGNATURE, f"the Stripe signature does not verify: {exc}"
        ) from exc
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError, KeyError) as exc:
        # Signed by the secret's holder, yet not an event: refuse, change nothing.
        raise FairdropError(ErrorCode.MALFORMED_JSON, "the body is not a Stripe event") from exc
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise FairdropError(ErrorCode.MALFORMED_JSON, "the body is not a Stripe event")
    if event_type not in HANDLED:
        return JSONResponse({"received": True, "ignored": f"fairdrop does not use {event_type}"})
    try:
        facts = IntentFacts.from_intent(event["data"]["object"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FairdropError(ErrorCode.INVALID_FIELD, "the event has no payment intent") from exc
    if not facts.event_id or not facts.hold_id:
        # Another integration's payment on the same account: not ours to touch.
        return JSONResponse({"received": True, "ignored": "not a fairdrop payment"})
    seen_key = EventKeys(facts.event_id).payment_event(event_id)
    if not await ctx.client.set(seen_key, event_type, nx=True, ex=SEEN_FOR_SECONDS):
        return JSONResponse({"received": True, "duplicate": True})
    try:
        await run_in_threadpool(
            ctx.queue.enqueue,
            "purchase.payment_events.payment_event_job",
            event_type,
            asdict(facts),
            retry=EVENT_RETRY,
        )
    except Exception:
        # Not taken after all: let Stripe's retry deliver it again.
        await ctx.client.delete(seen_key)
        raise
    log.info("stripe %s for hold %s queued (%s)", event_type, facts.hold_id, facts.id)
    return JSONResponse({"received": True, "duplicate": False})


routes = [Route(WEBHOOK_PATH, stripe_webhook, methods=["POST"])]
