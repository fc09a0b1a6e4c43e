"""How fast the Stripe webhook answers: ``python -m loadtests.webhook_bench --events 400``.

Starts localstripe and a whole fairdrop paying through it (embedded Redis,
SQLite), makes real PaymentIntents for a sale's holds that do not exist, and
sends their signed ``payment_intent.canceled`` deliveries from several
concurrent clients, as Stripe retries would arrive in a burst. Each delivery
is verified, claimed once in Redis and handed to an RQ job; the job asks
Stripe for the intent, finds no hold waiting for it and does nothing, so the
figures are the endpoint's own cost plus the worker's. Then every delivery is
sent again: the duplicates must all be answered "duplicate" and queue nothing.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import stripe
from rq import Queue

from fairdrop.settings import Settings
from launch.localstripe_server import register_webhook, running_localstripe, stripe_client
from launch.stack import Stack
from web.stripe_webhook import WEBHOOK_PATH


def _deliveries(client: stripe.StripeClient, count: int, secret: str) -> list[tuple[str, str]]:
    """(payload, Stripe-Signature) for ``count`` real intents naming holds nobody has."""
    signed = []
    for i in range(count):
        intent = client.v1.payment_intents.create(
            params={
                "amount": 4_000,
                "currency": "eur",
                "metadata": {"event_id": "bench", "hold_id": f"h{i}", "fan_id": "f"},
            }
        )
        payload = json.dumps(
            {
                "id": f"evt_bench_{i}_{secrets.token_hex(4)}",
                "object": "event",
                "type": "payment_intent.canceled",
                "created": int(time.time()),
                "data": {"object": intent.to_dict()},
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(payload, secret)
        signed.append((payload, header))
    return signed


async def _send_all(
    url: str, deliveries: list[tuple[str, str]], clients: int
) -> tuple[list[float], list[dict[str, Any]], float]:
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    todo = list(deliveries)

    async def one_client(http: httpx.AsyncClient) -> None:
        while todo:
            payload, header = todo.pop()
            started = time.perf_counter()
            response = await http.post(
                url, content=payload, headers={"Stripe-Signature": header}, timeout=30
            )
            latencies.append(time.perf_counter() - started)
            answers.append(response.json() | {"status": response.status_code})

    started = time.perf_counter()
    async with httpx.AsyncClient() as http:
        await asyncio.gather(*(one_client(http) for _ in range(clients)))
    return latencies, answers, time.perf_counter() - started


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run(events: int, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fairdrop-webhook-bench-") as tmp:
        workdir = Path(tmp)
        with running_localstripe(workdir / "localstripe.log") as base:
            secret = "whsec_" + secrets.token_hex(16)
            settings = Settings(
                data_dir=workdir,
                port=0,
                payment_provider="stripe",
                stripe_secret_key="sk_test_" + secrets.token_hex(8),
                stripe_webhook_secret=secret,
                stripe_publishable_key="pk_test_bench",
                stripe_api_base=base,
            )
            with Stack(settings, workers=1) as stack:
                register_webhook(base, stack.base_url, secret)
                client = stripe_client(base, stack.settings.stripe_secret_key)
                deliveries = _deliveries(client, events, secret)
                url = stack.base_url + WEBHOOK_PATH
                first = asyncio.run(_send_all(url, deliveries, clients))
                again = asyncio.run(_send_all(url, deliveries, clients))
                assert stack.settings.redis_url is not None
                connection = redis.Redis.from_url(stack.settings.redis_url)
                queue = Queue(stack.settings.rq_queue, connection=connection)
                drain_started = time.perf_counter()
                while queue.count and time.perf_counter() - drain_started < 120:
                    time.sleep(0.05)
                drained = time.perf_counter() - drain_started
                left = queue.count
                connection.close()
    latencies, answers, seconds = first
    dup_latencies, dup_answers, _ = again
    return {
        "events": events,
        "clients": clients,
        "accepted": sum(1 for a in answers if a.get("duplicate") is False),
        "duplicates_refused_work": sum(1 for a in dup_answers if a.get("duplicate") is True),
        "answer_ms_p50": _ms(latencies, 0.5),
        "answer_ms_p99": _ms(latencies, 0.99),
        "answer_ms_mean": round(1000 * statistics.fmean(latencies), 2),
        "deliveries_per_s": round(events / seconds, 1),
        "duplicate_answer_ms_p50": _ms(dup_latencies, 0.5),
        "jobs_left_after_drain": left,
        "drain_seconds_after_burst": round(drained, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.events, args.clients)))


if __name__ == "__main__":
    main()
