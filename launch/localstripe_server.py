"""localstripe, a Stripe-speaking test server, on loopback: for tests and the demo.

No Stripe server can be reached from our machines, so the tests and
``fairdrop demo --payments localstripe`` run the real ``stripe`` library
against localstripe (PyPI, GPL-3.0; a test dependency, never shipped). Run
here as ``python -m launch.localstripe_server --port N`` it:

- binds 127.0.0.1 only (its own command line binds every interface);
- keeps its store in memory (it would pickle it to /tmp on every change);
- also sends ``payment_intent.canceled``, which Stripe sends and localstripe
  does not, so a cancelled intent reaches fairdrop's webhook as it would live.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import stripe

from launch.stack import free_port, running_server
from web.stripe_webhook import WEBHOOK_PATH


def serve(port: int) -> None:
    import aiohttp.web
    from localstripe import resources
    from localstripe.webhooks import schedule_webhook

    resources.Store.dump_to_disk = lambda self: None
    cancel = resources.PaymentIntent._api_cancel

    def cancel_and_tell(id: str, **kwargs: Any) -> Any:
        intent = cancel(id, **kwargs)
        schedule_webhook(resources.Event("payment_intent.canceled", intent))
        return intent

    # Its routes are built from this list when localstripe.server is imported.
    resources.extra_apis[:] = [
        (method, url, cancel_and_tell if func == cancel else func)
        for method, url, func in resources.extra_apis
    ]
    from localstripe.server import app

    aiohttp.web.run_app(app, host="127.0.0.1", port=port, print=None)


@contextmanager
def running_localstripe(log_path: Path | None = None) -> Iterator[str]:
    """Starts localstripe on a free loopback port; yields its base URL.

    Its log (every request and webhook delivery) goes to ``log_path``, or nowhere.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "launch.localstripe_server", "--port", str(port)]
    # The Stripe.js stand-in is served without a key: the readiness probe.
    with running_server("localstripe", argv, f"{base}/js.stripe.com/v3/", log_path):
        yield base


def register_webhook(base: str, site_url: str, secret: str, webhook_id: str = "fairdrop") -> None:
    """Tells localstripe to send events to the fairdrop at ``site_url``, signed with ``secret``."""
    answer = httpx.post(
        f"{base}/_config/webhooks/{webhook_id}",
        json={"url": site_url.rstrip("/") + WEBHOOK_PATH, "secret": secret},
        headers={"Authorization": "Bearer sk_test_localstripe"},
        timeout=5,
    )
    answer.raise_for_status()


def stripe_client(api_base: str, secret_key: str) -> stripe.StripeClient:
    """The stripe library pointed at localstripe. No retries: it answers what
    it lacks with a 500, which the library would otherwise try again."""
    return stripe.StripeClient(secret_key, base_addresses={"api": api_base}, max_network_retries=0)


def pay_with_card(client: stripe.StripeClient, intent_id: str, card: str = "pm_card_visa") -> None:
    """What Stripe.js does on the fan's page: attach the card and confirm."""
    client.v1.payment_intents.update(intent_id, params={"payment_method": card})
    client.v1.payment_intents.confirm(intent_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
