"""web/oidc_sign_in.py: "login" sign-in against a real OpenID Connect provider on loopback.

The provider is oidc-provider-mock in its own process (launch/oidc_provider.py),
fairdrop is web, worker and clock as real processes, and each test drives
them with httpx as a browser would: fairdrop's redirect to the provider, the
provider's form, the redirect back to the callback. Crafted requests to the
provider give ID tokens for another nonce or another client. A relay in front
of the provider's token endpoint, on a second stack, makes the provider
misbehave where no request can: an ID token from another issuer, for another
audience, tampered with, or a token endpoint that fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest

from fairdrop.errors import ErrorCode
from fairdrop.identity import OIDC, Identity
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE, Signer
from launch.oidc_provider import (
    DISCOVERY_PATH,
    OidcProvider,
    approve,
    deny,
    running_oidc_provider,
)
from launch.stack import free_port
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import TLS, WAIT_S, expect_error
from web.app import create_app
from web.oidc_sign_in import CALLBACK_PATH, FLOW_COOKIE, FLOW_SECONDS, SIGN_IN_PATH
from web.rate_limits import BLOCKLIST_REFRESH_S

CLIENT_ID = "fairdrop-tests"
CLIENT_SECRET = "a-secret-the-provider-accepts"
OTHER_CLIENT_ID = "another-site"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with running_oidc_provider(log) as running:
        yield running


def _login_stack(
    postgres_server: PostgresServer, workdir: Path, discovery_url: str
) -> Iterator[LiveStack]:
    with running_stack(
        postgres_server,
        workdir,
        oidc_discovery_url=discovery_url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
    provider: OidcProvider,
) -> Iterator[LiveStack]:
    yield from _login_stack(
        postgres_server, tmp_path_factory.mktemp("stack"), provider.discovery_url
    )


@pytest.fixture(scope="module")
def login_sale(live_stack: LiveStack) -> str:
    event_id: str = live_stack.create_event(access="login")["id"]
    return event_id


Browsers = Callable[[LiveStack], httpx.Client]


@pytest.fixture
def browsers() -> Iterator[Browsers]:
    """New browsers (cookie jars) on a stack, closed when the test ends.

    Redirects are followed by hand, to see each one.
    """
    opened: list[httpx.Client] = []

    def new(stack: LiveStack) -> httpx.Client:
        opened.append(httpx.Client(base_url=stack.base_url, timeout=WAIT_S, verify=TLS))
        return opened[-1]

    yield new
    for http in opened:
        http.close()


def set_cookies(answer: httpx.Response) -> list[str]:
    return answer.headers.get_list("set-cookie")


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, **changes: str | None) -> str:
    """``url`` with these query parameters replaced (None: removed)."""
    parts = urlsplit(url)
    params = {**dict(parse_qsl(parts.query)), **changes}
    kept = {name: value for name, value in params.items() if value is not None}
    return parts._replace(query=urlencode(kept)).geturl()


def start_sign_in(http: httpx.Client, next_path: str = "/") -> str:
    """fairdrop's redirect to the provider: the authorization URL."""
    answer = http.get(SIGN_IN_PATH, params={"next": next_path})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(http: httpx.Client, subject: str, next_path: str = "/") -> httpx.Client:
    """The browser, signed in as ``subject`` at the provider and sent back to ``next_path``."""
    answer = http.get(approve(http, start_sign_in(http, next_path), subject))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_path
    return http


def join(http: httpx.Client, event_id: str) -> httpx.Response:
    return http.post(f"/api/events/{event_id}/join")


def expect_refused(
    answer: httpx.Response, http: httpx.Client, event_id: str, code: ErrorCode
) -> str:
    """The refusal, with no fan session set: the browser still cannot join a login sale."""
    error = expect_error(answer, code)
    assert not any(c.startswith(f"{FAN_COOKIE}=") for c in set_cookies(answer)), answer.headers
    expect_error(join(http, event_id), ErrorCode.SIGN_IN_REQUIRED)
    return error["message"]


def test_a_signed_in_fan_joins_a_login_sale_as_one_person_on_every_device(
    live_stack: LiveStack, provider: OidcProvider, login_sale: str, browsers: Browsers
) -> None:
    next_path = f"/e/{login_sale}"
    alice = sign_in(browsers(live_stack), "alice", next_path)
    session = Signer(live_stack.settings.secret_key).session_from_cookie(alice.cookies[FAN_COOKIE])
    assert session is not None
    assert session.identity == Identity(OIDC, "alice", provider.issuer)
    assert session.expires_at - session.issued_at == live_stack.settings.session_hours * 3600

    first = join(alice, login_sale)
    assert first.status_code == 200, first.text
    entrant_id = first.json()["entrant_id"]
    # Her second device signs in on its own and is the same entrant, in the same place.
    again = join(sign_in(browsers(live_stack), "alice", next_path), login_sale)
    assert again.status_code == 200, again.text
    assert again.json()["entrant_id"] == entrant_id
    assert again.json()["number"] == first.json()["number"]
    bob = join(sign_in(browsers(live_stack), "bob", next_path), login_sale)
    assert bob.status_code == 200, bob.text
    assert bob.json()["entrant_id"] != entrant_id
    expect_error(join(browsers(live_stack), login_sale), ErrorCode.SIGN_IN_REQUIRED)


def test_the_provider_is_asked_for_a_code_with_state_nonce_and_pkce(
    live_stack: LiveStack, provider: OidcProvider, browsers: Browsers
) -> None:
    http = browsers(live_stack)
    answer = http.get(SIGN_IN_PATH, params={"next": "/e/some-sale"})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{provider.issuer}/oauth2/authorize?")
    asked = query(location)
    assert asked["response_type"] == "code"
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == live_stack.base_url + CALLBACK_PATH
    assert asked["scope"] == "openid email profile"
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43  # base64url of a SHA-256, unpadded
    assert len(asked["state"]) >= 20 and len(asked["nonce"]) >= 20
    # The flow rides in its own short-lived cookie, sent to the sign-in paths only;
    # the fan has no session yet.
    [cookie] = set_cookies(answer)
    assert cookie.startswith(f"{FLOW_COOKIE}=")
    flags = cookie.lower()
    assert f"path={SIGN_IN_PATH}" in flags and f"max-age={FLOW_SECONDS}" in flags
    assert "httponly" in flags and "samesite=lax" in flags


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example",
        "//evil.example/e/1",
        "///evil.example",
        "/\\evil.example",
        "https://evil.example/e/1",
        "evil.example",
        "",
        "/e/1 x",
        "/e/1\r\nSet-Cookie: a=b",
        "/" + "e" * 2048,
    ],
)
def test_next_must_be_a_path_on_this_site(
    live_stack: LiveStack, next_path: str, browsers: Browsers
) -> None:
    answer = browsers(live_stack).get(SIGN_IN_PATH, params={"next": next_path})
    expect_error(answer, ErrorCode.INVALID_FIELD)
    assert set_cookies(answer) == []


def test_a_callback_this_browser_did_not_start_is_refused(
    live_stack: LiveStack, login_sale: str, browsers: Browsers
) -> None:
    http = browsers(live_stack)
    callback = approve(http, start_sign_in(http, f"/e/{login_sale}"), "alice")
    for forged in (
        with_query(callback, state="a-state-fairdrop-never-made"),
        with_query(callback, state=None),
    ):
        message = expect_refused(http.get(forged), http, login_sale, ErrorCode.SIGN_IN_FAILED)
        assert "not started in this browser" in message
    # Another browser (login CSRF: someone else's code pushed into this one).
    stranger = browsers(live_stack)
    expect_refused(stranger.get(callback), stranger, login_sale, ErrorCode.SIGN_IN_FAILED)
    # The forgeries did not spoil the real flow.
    assert http.get(callback).status_code == 303
    assert join(http, login_sale).status_code == 200


def test_a_callback_without_a_code_is_refused(
    live_stack: LiveStack, login_sale: str, browsers: Browsers
) -> None:
    http = browsers(live_stack)
    callback = approve(http, start_sign_in(http), "alice")
    message = expect_refused(
        http.get(with_query(callback, code=None)), http, login_sale, ErrorCode.SIGN_IN_FAILED
    )
    assert "no code" in message


def _block(stack: LiveStack, http: httpx.Client, entries: list[str]) -> None:
    """Puts the blocklist, and waits until every web process follows it."""
    put = http.put("/api/blocklist", json={"entries": entries}, headers=stack.organiser_headers)
    assert put.status_code == 200, put.text
    time.sleep(BLOCKLIST_REFRESH_S + 0.3)


def test_a_blocked_address_can_neither_begin_nor_finish_a_login(
    live_stack: LiveStack, login_sale: str, browsers: Browsers
) -> None:
    http = browsers(live_stack)
    callback = approve(http, start_sign_in(http), "alice")
    _block(live_stack, http, ["127.0.0.1"])
    try:
        expect_error(browsers(live_stack).get(SIGN_IN_PATH), ErrorCode.BLOCKED)
        expect_error(http.get(callback), ErrorCode.BLOCKED)
    finally:
        _block(live_stack, http, [])
    # Refused before the flow was read: once let in again, the login finishes.
    assert http.get(callback).status_code == 303
    assert join(http, login_sale).status_code == 200


def test_a_code_signs_in_once(live_stack: LiveStack, login_sale: str, browsers: Browsers) -> None:
    http = browsers(live_stack)
    callback = approve(http, start_sign_in(http), "alice")
    flow_cookie = http.cookies[FLOW_COOKIE]
    assert http.get(callback).status_code == 303
    # In the same browser the flow is over.
    again = browsers(live_stack)
    message = expect_refused(again.get(callback), again, login_sale, ErrorCode.SIGN_IN_FAILED)
    assert "not started in this browser" in message
    # With the flow cookie copied from before, the provider refuses the used code.
    replay = browsers(live_stack)
    replay.cookies.set(FLOW_COOKIE, flow_cookie)
    message = expect_refused(replay.get(callback), replay, login_sale, ErrorCode.SIGN_IN_FAILED)
    assert "invalid_grant" in message


def test_an_error_from_the_provider_is_refused(
    live_stack: LiveStack, login_sale: str, browsers: Browsers
) -> None:
    http = browsers(live_stack)
    callback = deny(http, start_sign_in(http))
    assert query(callback)["error"] == "access_denied"
    message = expect_refused(http.get(callback), http, login_sale, ErrorCode.SIGN_IN_FAILED)
    assert "access_denied" in message


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # A token of another sign-in (or an old answer replayed): its nonce is not this flow's.
        ({"nonce": "a-nonce-of-another-sign-in"}, "'nonce'"),
        # Another site's code pushed into this browser's flow: the provider will
        # not give its tokens to fairdrop, another client.
        ({"client_id": OTHER_CLIENT_ID}, "invalid_grant"),
    ],
)
def test_a_code_from_an_altered_authorization_request_is_refused(
    live_stack: LiveStack,
    login_sale: str,
    browsers: Browsers,
    changes: dict[str, str],
    reason: str,
) -> None:
    http = browsers(live_stack)
    callback = approve(http, with_query(start_sign_in(http), **changes), "alice")
    message = expect_refused(http.get(callback), http, login_sale, ErrorCode.SIGN_IN_FAILED)
    assert reason in message


async def test_without_a_provider_the_sign_in_paths_are_not_found() -> None:
    app = create_app(Settings(secret_key="no-login"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        for path in (SIGN_IN_PATH, CALLBACK_PATH):
            expect_error(await http.get(path), ErrorCode.LOGIN_NOT_CONFIGURED)


async def test_a_provider_that_cannot_be_reached_is_unavailable() -> None:
    # Nothing listens on the port. Starting a sign-in needs only the discovery
    # document, so the app runs without its lifespan (no Redis, no database).
    settings = Settings(
        secret_key="provider-down",
        oidc_discovery_url=f"http://127.0.0.1:{free_port()}{DISCOVERY_PATH}",
        oidc_client_id=CLIENT_ID,
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        answer = await http.get(SIGN_IN_PATH, params={"next": "/e/x"})
    expect_error(answer, ErrorCode.SIGN_IN_UNAVAILABLE)
    assert set_cookies(answer) == []


class TokenRelay:
    """The provider's discovery document, with a token endpoint of its own in front.

    ``mode`` says what the token endpoint does: ``as_is`` forwards; ``other_issuer``
    forwards under another host name, so the provider signs an ID token whose
    issuer is that name; ``other_client`` presents another client's credentials,
    for a code issued to that client; ``tampered`` changes the signed ID token's
    subject; ``down`` answers 503. Every token request's form is kept.
    """

    def __init__(self, provider: OidcProvider) -> None:
        self.provider = provider
        self.mode = "as_is"
        self.token_requests: list[dict[str, list[str]]] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != DISCOVERY_PATH:
                    self._answer(404, b"not here")
                    return
                document = httpx.get(provider.discovery_url, timeout=WAIT_S).json()
                document["token_endpoint"] = f"{relay.url}/token"
                self._answer(200, json.dumps(document).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                relay.token_requests.append(parse_qs(body.decode()))
                if relay.mode == "down":
                    self._answer(503, b"the provider is down")
                    return
                status, answer = relay.forward(
                    body, self.headers["content-type"], self.headers.get("authorization", "")
                )
                self._answer(status, answer)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output is the place for failures, not requests

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, body: bytes, content_type: str, authorization: str) -> tuple[int, bytes]:
        sent = {"content-type": content_type, "authorization": authorization}
        if self.mode == "other_issuer":
            # The mock names as issuer the host it was asked under.
            sent["host"] = urlsplit(self.provider.issuer).netloc.replace("127.0.0.1", "localhost")
        if self.mode == "other_client":
            credentials = f"{OTHER_CLIENT_ID}:any-secret".encode()
            sent["authorization"] = "Basic " + base64.b64encode(credentials).decode()
        answer = httpx.post(
            f"{self.provider.issuer}/oauth2/token", content=body, headers=sent, timeout=WAIT_S
        )
        if self.mode != "tampered" or answer.status_code != 200:
            return answer.status_code, answer.content
        token = answer.json()
        header, payload, signature = token["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "mallory"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token["id_token"] = f"{header}.{forged}.{signature}"
        return 200, json.dumps(token).encode()

    def __enter__(self) -> TokenRelay:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def relay(provider: OidcProvider) -> Iterator[TokenRelay]:
    with TokenRelay(provider) as running:
        yield running


@pytest.fixture(scope="module")
def relayed_stack(
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
    relay: TokenRelay,
) -> Iterator[LiveStack]:
    discovery_url = relay.url + DISCOVERY_PATH
    yield from _login_stack(postgres_server, tmp_path_factory.mktemp("relayed"), discovery_url)


@pytest.fixture(scope="module")
def relayed_sale(relayed_stack: LiveStack) -> str:
    event_id: str = relayed_stack.create_event(access="login")["id"]
    return event_id


def test_through_the_relay_a_sign_in_works_and_proves_its_pkce_challenge(
    relayed_stack: LiveStack, relay: TokenRelay, relayed_sale: str, browsers: Browsers
) -> None:
    # The mock does not check PKCE; what fairdrop sends is checked here.
    relay.mode = "as_is"
    http = browsers(relayed_stack)
    authorize = start_sign_in(http, f"/e/{relayed_sale}")
    assert http.get(approve(http, authorize, "carol")).status_code == 303
    assert join(http, relayed_sale).status_code == 200
    [verifier] = relay.token_requests[-1]["code_verifier"]
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert challenge == query(authorize)["code_challenge"]


@pytest.mark.parametrize(
    ("mode", "client_id", "reason"),
    [
        ("other_issuer", CLIENT_ID, "'iss'"),
        ("other_client", OTHER_CLIENT_ID, "'aud'"),
        ("tampered", CLIENT_ID, "bad_signature"),
    ],
)
def test_an_id_token_that_is_not_for_this_sign_in_is_refused(
    relayed_stack: LiveStack,
    relay: TokenRelay,
    relayed_sale: str,
    mode: str,
    client_id: str,
    reason: str,
    browsers: Browsers,
) -> None:
    relay.mode = mode
    http = browsers(relayed_stack)
    authorize = with_query(start_sign_in(http), client_id=client_id)
    callback = approve(http, authorize, "alice")
    message = expect_refused(http.get(callback), http, relayed_sale, ErrorCode.SIGN_IN_FAILED)
    assert "ID token is not valid" in message and reason in message


def test_a_token_endpoint_that_fails_is_unavailable(
    relayed_stack: LiveStack, relay: TokenRelay, relayed_sale: str, browsers: Browsers
) -> None:
    relay.mode = "down"
    http = browsers(relayed_stack)
    callback = approve(http, start_sign_in(http), "alice")
    expect_refused(http.get(callback), http, relayed_sale, ErrorCode.SIGN_IN_UNAVAILABLE)
