"""The edge every HTTP answer passes: security headers, and no state change from another site.

A pure ASGI middleware, outermost in ``create_app``: Starlette's
BaseHTTPMiddleware would run each request through an extra task and memory
stream (a cost per request), and has had bugs with streamed answers such as
the CSV export. Websockets pass untouched: ``web/sockets.py`` refuses a foreign
Origin itself.

Headers (README "Running behind nginx with TLS" says why each):

- ``Content-Security-Policy``: pages (``text/html``) may run only this site's
  scripts and styles, talk to this site (and its websocket), show its images,
  and nothing frames them; when payments are Stripe, the fan page may also
  load Stripe.js from ``settings.stripe_js_url`` and talk to and frame its
  origin. Every other answer (JSON, the QR code's SVG, CSS, JS, CSV) loads
  nothing at all, even when opened on its own.
- ``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``.
- ``X-Content-Type-Options: nosniff``.
- ``Referrer-Policy: no-referrer``: personal, sign-in and presale links
  carry their secret in the address. No Referer at all means it reaches no
  other site (Stripe.js, a link out), whatever an older browser's default,
  and no log that records Referers. Our pages send their JSON with
  ``fetch()``, whose requests keep the page's real Origin under this policy
  (only a plain HTML form post would say ``Origin: null``, refused below).
- ``Strict-Transport-Security`` only with ``settings.cookie_secure``, that is
  when the site is served over HTTPS.

Cross-site requests: a POST, PUT, PATCH or DELETE whose Origin header names
another site gets 403 ``cross_site_request`` before any route runs. "This
site" is the Host the request was sent to, or ``settings.public_base_url``
(for a proxy that rewrites Host). Requests without Origin (curl, Stripe's
webhook, server-to-server calls) pass: browsers send Origin with every
cross-origin POST, and the fan cookie is ``SameSite=Lax`` besides.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.metrics import count_refusal
from fairdrop.settings import Settings

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STRIPE_JS_ORIGIN = "https://js.stripe.com"
# Stripe's published sources for Stripe.js and its Payment Element (the card
# form and 3-D Secure run in Stripe's frames; Stripe.js calls its API).
STRIPE_SCRIPTS = ("https://js.stripe.com", "https://*.js.stripe.com")
STRIPE_FRAMES = ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com")
STRIPE_CONNECT = ("https://api.stripe.com",)
# Every answer that is not a page is a document that needs nothing.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# A year; no includeSubDomains: other hosts of the domain are not ours to promise for.
HSTS = "max-age=31536000"
# A Host header fit to name in the page's policy (a client could send anything).
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower case, as browsers send it in Origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def payment_sources(settings: Settings) -> tuple[str, str, str]:
    """What the fan page may load for payments: (script-src, connect-src, frame-src) additions."""
    if settings.payment_provider != "stripe":
        return "", "", ""
    js_origin = origin_of(settings.stripe_js_url)
    if js_origin == STRIPE_JS_ORIGIN:
        return " ".join(STRIPE_SCRIPTS), " ".join(STRIPE_CONNECT), " ".join(STRIPE_FRAMES)
    # Another Stripe-speaking server (the tests' localstripe) serves its
    # Stripe.js stand-in and its API from one origin.
    return js_origin, js_origin, js_origin


class PagePolicy:
    """The pages' Content-Security-Policy, for the host a page was asked from."""

    def __init__(self, settings: Settings) -> None:
        self.scripts, self.connect, self.frames = payment_sources(settings)

    def for_host(self, host: str) -> str:
        # The page's own websocket, named: older Safari does not count ws: as 'self'.
        sockets = f"ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
        directives = [
            "default-src 'none'",
            _joined("script-src 'self'", self.scripts),
            "style-src 'self'",
            # data: for the pages' empty favicon (<link rel="icon" href="data:,">).
            "img-src 'self' data:",
            _joined("connect-src 'self'", sockets, self.connect),
            _joined("frame-src", self.frames) if self.frames else "",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
        return "; ".join(d for d in directives if d)


def _joined(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def from_this_site(origin: str, host: str, public_origin: str) -> bool:
    """Whether a browser's Origin header names this site (``null`` never does)."""
    origin = origin.strip().lower()
    if origin == public_origin:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and parts.netloc == host.lower()


def _host_and_origin(scope: Scope) -> tuple[str, str | None]:
    """The first Host and Origin headers, as Starlette's ``Headers.get`` reads them.

    One pass over the raw list (names come lower-cased from the server)
    rather than a ``Headers`` and two lookups: this runs on every request.
    """
    host: str | None = None
    origin: str | None = None
    for name, value in scope["headers"]:
        if name == b"host" and host is None:
            host = value.decode("latin-1")
        elif name == b"origin" and origin is None:
            origin = value.decode("latin-1")
    return host or "", origin


class Edge:
    """Security headers on every HTTP answer; 403 for a state change asked from another site."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.public_origin = origin_of(settings.public_base_url)
        self.page_policy = PagePolicy(settings)
        common = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if settings.cookie_secure:
            common.append((b"strict-transport-security", HSTS.encode()))
        self.common_headers = common
        # What every answer but a page gets, encoded once.
        self.other_headers = [(b"content-security-policy", OTHER_POLICY.encode()), *common]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, origin = _host_and_origin(scope)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self._with_headers(message, host)}
            await send(message)

        if (
            scope["method"] in STATE_CHANGING
            and origin is not None
            and not from_this_site(origin, host, self.public_origin)
        ):
            refusal = FairdropError(
                ErrorCode.CROSS_SITE_REQUEST,
                "this request came from a page of another site: nothing was changed",
            )
            response = JSONResponse(refusal.as_body(), status_code=refusal.status)
            count_refusal(refusal.code, refusal.status)
            await response(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's ServerErrorMiddleware, outside this one, would answer
            # the same 500 without our headers; it sees ours and only re-raises.
            if not started:
                error = PlainTextResponse("Internal Server Error", status_code=500)
                await error(scope, receive, send_with_headers)
            raise

    def _with_headers(self, message: Message, host: str) -> list[tuple[bytes, bytes]]:
        headers = list(message.get("headers", []))
        present = set()
        content_type: bytes | None = None  # the first one's value
        for name, value in headers:
            lower = name.lower()
            present.add(lower)
            if content_type is None and lower == b"content-type":
                content_type = value
        if content_type is not None and content_type.startswith(b"text/html"):
            policy = self.page_policy.for_host(host).encode()
            added = [(b"content-security-policy", policy), *self.common_headers]
        else:
            added = self.other_headers
        headers.extend((name, value) for name, value in added if name not in present)
        return headers
