"""A real OpenID Connect provider on loopback, for the tests and the demo's "login" sales.

No provider (Google, Microsoft, ...) can be reached from our machines, so the
tests and ``fairdrop demo --access login`` run ``oidc-provider-mock`` (PyPI,
MIT; a test dependency, never shipped) as its own process: discovery, JWKS,
an authorization page and a token endpoint that signs RS256 ID tokens. It is
a Flask app on Authlib that prints Authlib's deprecation warnings, so it is
never imported here: our test run turns warnings into errors.

What it does and lacks is in docs/oidc.md. In short: any client id and secret
are accepted (no registration), the person signing in types any subject on
its page (:func:`approve` does what they do), its issuer is the URL it is
reached at, and it does not check PKCE.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from launch.stack import free_port, running_server

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class OidcProvider:
    """A running provider: its issuer is its base URL, as the mock computes it."""

    issuer: str

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_PATH


@contextmanager
def running_oidc_provider(log_path: Path | None = None) -> Iterator[OidcProvider]:
    """Starts the provider on a free 127.0.0.1 port and stops it at the end.

    It refuses an authorization request without a nonce (``--require-nonce``),
    so a client that forgot one fails here as it would at a strict provider.
    Its log (every request, and Authlib's warnings) goes to ``log_path``, or nowhere.
    """
    port = free_port()
    argv = [
        *(sys.executable, "-m", "oidc_provider_mock"),
        *("--host", "127.0.0.1", "--port", str(port), "--require-nonce"),
    ]
    provider = OidcProvider(f"http://127.0.0.1:{port}")
    with running_server("oidc-provider-mock", argv, provider.discovery_url, log_path):
        yield provider


def _back_to_the_client(answer: httpx.Response) -> str:
    # The provider sends the browser back to the client's callback with a 302.
    if answer.status_code != 302 or "location" not in answer.headers:
        raise RuntimeError(
            f"the provider did not send the browser back: {answer.status_code} {answer.text[:300]}"
        )
    return answer.headers["location"]


def approve(http: httpx.Client, authorize_url: str, subject: str) -> str:
    """What a person does on the provider's page: signs in as ``subject``.

    The page's form posts the subject back to the authorization URL itself.
    Returns the URL the provider sends the browser to: the client's callback
    with ``code`` and ``state``.
    """
    return _back_to_the_client(http.post(authorize_url, data={"sub": subject}))


def deny(http: httpx.Client, authorize_url: str) -> str:
    """The page's "Deny" button: the callback URL, with ``error=access_denied``."""
    return _back_to_the_client(http.post(authorize_url, data={"action": "deny"}))
