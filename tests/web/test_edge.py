"""The hardened edge (web/edge.py, and read_json_object's content type in web/validation.py).

On a live stack: every kind of answer carries the security headers; a
state-changing request from a page of another site, or a JSON body sent as
another type, is refused and changes nothing; the site's own requests and
requests without Origin (curl, Stripe's webhook) still work. On a bare
Starlette app: HSTS only over HTTPS, the Stripe sources in the page policy,
and the headers on a 500 and a streamed answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode
from fairdrop.settings import Settings
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, client, event_ids, expect_error, ga, open_sale, stats
from web.edge import Edge, from_this_site

EVIL = "https://evil.example"
# What a cross-site request must leave as it was.
FIGURES = ("buffered", "queued", "admitted", "held", "sold")


def policy_of(response: httpx.Response) -> dict[str, list[str]]:
    """The Content-Security-Policy as {directive: sources}."""
    directives = [d.split() for d in response.headers["content-security-policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def assert_edge_headers(response: httpx.Response, page: bool) -> dict[str, list[str]]:
    """The answer carries every security header; a page the page policy, others the empty one."""
    headers = response.headers
    assert headers["x-frame-options"] == "DENY", headers
    assert headers["x-content-type-options"] == "nosniff", headers
    assert headers["referrer-policy"] == "no-referrer", headers
    assert "strict-transport-security" not in headers  # the stack is plain HTTP
    policy = policy_of(response)
    assert policy["frame-ancestors"] == ["'none'"], policy
    assert policy["default-src"] == ["'none'"], policy
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "'unsafe-eval'" not in headers["content-security-policy"]
    if page:
        assert policy["script-src"] == ["'self'"], policy
        assert policy["style-src"] == ["'self'"], policy
        host = response.request.url.netloc.decode()
        assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"], policy
    else:
        assert set(policy) == {"default-src", "frame-ancestors", "base-uri", "form-action"}
    return policy


def figures(stack: LiveStack, event_id: str) -> dict[str, Any]:
    now = stats(stack, event_id)
    return {name: now[name] for name in FIGURES}


async def test_every_kind_of_answer_carries_the_security_headers(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    order = await crowd.fan(event_id).buy()
    code = order["tickets"][0]["code"]
    async with client(live_stack) as http:
        for page in ("/organiser", f"/e/{event_id}", "/door", f"/tickets/{code}"):
            response = await http.get(page)
            assert response.status_code == 200, page
            assert response.headers["content-type"].startswith("text/html")
            assert_edge_headers(response, page=True)
        answers = {
            "static file": await http.get("/static/app.css"),
            "script": await http.get("/static/queue.js"),
            "JSON": await http.get(f"/api/events/{event_id}"),
            "QR code": await http.get(f"/api/tickets/{code}/qr.svg"),
            "redirect": await http.get("/"),
            "OpenAPI": await http.get("/openapi.json"),
        }
        export = await http.get(
            f"/api/events/{event_id}/export.csv", headers=live_stack.organiser_headers
        )
        errors = {
            "unknown event": await http.get("/api/events/no-such-event"),
            "no such path": await http.get("/api/nothing-here"),
            "wrong method": await http.delete(f"/api/events/{event_id}/join"),
            "unauthorised": await http.get(f"/api/events/{event_id}/stats"),
            "cross-site": await http.post(f"/api/events/{event_id}/join", headers={"Origin": EVIL}),
        }
    for name, response in answers.items():
        assert response.status_code in {200, 307}, (name, response.status_code)
        assert_edge_headers(response, page=False)
    # A streamed answer: the CSV export, with its rows intact.
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert code in export.text
    assert_edge_headers(export, page=False)
    for name, response in errors.items():
        assert 400 <= response.status_code < 500, (name, response.status_code)
        assert response.headers["content-type"].startswith("application/json"), name
        assert_edge_headers(response, page=False)


async def test_cross_site_state_changes_are_refused_and_change_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    hold_id = await fan.hold(2)
    before = figures(live_stack, event_id)
    events_before = event_ids(live_stack)
    from_evil = {"Origin": EVIL}

    stranger = crowd.fan(event_id)
    joined = await stranger.request("POST", fan.path("/join"), headers=from_evil)
    expect_error(joined, ErrorCode.CROSS_SITE_REQUEST)
    assert "set-cookie" not in joined.headers  # no fan was made
    # A sandboxed frame or a no-referrer page of another site says "null".
    null = await stranger.request("POST", fan.path("/join"), headers={"Origin": "null"})
    expect_error(null, ErrorCode.CROSS_SITE_REQUEST)
    # A site that only shares a suffix, or an address, with this one.
    for origin in (f"{live_stack.base_url}.evil.example", "http://127.0.0.1"):
        refused = await fan.request("POST", fan.path("/join"), headers={"Origin": origin})
        expect_error(refused, ErrorCode.CROSS_SITE_REQUEST)

    paid = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"), headers=from_evil, json={})
    expect_error(paid, ErrorCode.CROSS_SITE_REQUEST)
    released = await fan.request("POST", fan.path(f"/holds/{hold_id}/release"), headers=from_evil)
    expect_error(released, ErrorCode.CROSS_SITE_REQUEST)
    signed_out = await fan.request("POST", "/api/sign-out", headers=from_evil)
    expect_error(signed_out, ErrorCode.CROSS_SITE_REQUEST)
    for path, body in (
        ("/api/sign-in/email", {"email": "fan@example.com", "next": f"/e/{event_id}"}),
        ("/api/sign-in/email/code", {"challenge": "abc", "code": "123456"}),
    ):
        asked = await stranger.request("POST", path, headers=from_evil, json=body)
        expect_error(asked, ErrorCode.CROSS_SITE_REQUEST)

    organiser = {**live_stack.organiser_headers, **from_evil}
    async with client(live_stack, organiser) as http:
        created = await http.post("/api/events", json={"name": "from evil"})
        paused = await http.post(f"/api/events/{event_id}/pause")
        deleted = await http.delete(f"/api/events/{event_id}")
        # Reading is not changing: a GET from another page is answered.
        read = await http.get(f"/api/events/{event_id}/stats")
    for refused in (created, paused, deleted):
        expect_error(refused, ErrorCode.CROSS_SITE_REQUEST)
    assert read.status_code == 200

    assert figures(live_stack, event_id) == before
    assert event_ids(live_stack) == events_before
    assert stats(live_stack, event_id)["paused"] is False
    # The hold is still the fan's to pay, from its own page.
    own = await fan.request(
        "POST",
        fan.path(f"/holds/{hold_id}/pay"),
        headers={"Origin": live_stack.base_url},
        json={},
    )
    assert own.status_code == 202, own.text


async def test_this_sites_pages_and_origin_less_clients_still_change_things(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    own = {"Origin": live_stack.base_url}
    organiser = {**live_stack.organiser_headers, **own}
    event_id = open_sale(live_stack)
    async with client(live_stack, organiser) as http:
        # Pause and resume send no body and no content type, as the dashboard does.
        assert (await http.post(f"/api/events/{event_id}/pause")).status_code == 200
        assert (await http.post(f"/api/events/{event_id}/resume")).status_code == 200
    # Behind a proxy that rewrites Host, the public address is this site.
    proxied = {**organiser, "Host": "fairdrop-backend:8000"}
    async with client(live_stack, proxied) as http:
        assert (await http.post(f"/api/events/{event_id}/pause")).status_code == 200
        assert (await http.post(f"/api/events/{event_id}/resume")).status_code == 200
    assert stats(live_stack, event_id)["paused"] is False

    fan = crowd.fan(event_id)
    await fan.join()  # no Origin, no body, no content type
    again = await fan.request("POST", fan.path("/join"), headers=own)
    assert again.status_code == 200, again.text
    hold_id = await fan.hold()
    paid = await fan.request(
        "POST",
        fan.path(f"/holds/{hold_id}/pay"),
        headers={**own, "Content-Type": "application/json; charset=utf-8"},
        content=b"{}",
    )
    assert paid.status_code == 202, paid.text
    signed_out = await fan.request("POST", "/api/sign-out", headers=own)
    assert signed_out.status_code == 200, signed_out.text


async def test_json_bodies_of_another_type_get_415_and_change_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    token = await fan.admission_token()
    before = figures(live_stack, event_id)
    events_before = event_ids(live_stack)
    hold_body = json.dumps(
        {"admission_token": token, "items": [{"type": ga(event_id), "quantity": 1}]}
    )
    # What a page of another site can send without asking the browser first.
    for content_type in (
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
    ):
        asked = await fan.request(
            "POST",
            fan.path("/purchases"),
            content=hold_body,
            headers={"Content-Type": content_type},
        )
        error = expect_error(asked, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
        assert "application/json" in error["message"]
    # A typeless body (a blob without a type) too.
    untyped = await fan.request("POST", fan.path("/purchases"), content=hold_body.encode())
    expect_error(untyped, ErrorCode.UNSUPPORTED_MEDIA_TYPE)

    async with client(live_stack, live_stack.organiser_headers) as http:
        created = await http.post(
            "/api/events",
            content=json.dumps({"name": "as text", "ticket_types": []}),
            headers={"Content-Type": "text/plain"},
        )
    expect_error(created, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert figures(live_stack, event_id) == before
    assert event_ids(live_stack) == events_before

    # The same request as JSON goes through.
    asked = await fan.request(
        "POST",
        fan.path("/purchases"),
        content=hold_body,
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert asked.status_code == 202, asked.text
    answer = await fan.answer_to(asked.json()["request_id"])
    assert answer["ok"], answer


# ---------- the middleware on its own ----------


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>page</title>")


async def _crash(request: Request) -> HTMLResponse:
    raise RuntimeError("a bug")


async def _stream(request: Request) -> StreamingResponse:
    async def rows() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"row {i}\n".encode()

    return StreamingResponse(rows(), media_type="text/csv")


def _bare_app(settings: Settings) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/page", _page), Route("/crash", _crash), Route("/stream", _stream)],
        middleware=[Middleware(Edge, settings=settings)],
    )
    # The 500 is answered, then re-raised for the server's log: keep the answer.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test")


async def test_hsts_only_when_the_site_is_served_over_https() -> None:
    async with _bare_app(Settings()) as http:
        assert "strict-transport-security" not in (await http.get("/page")).headers
    async with _bare_app(Settings(cookie_secure=True)) as http:
        hsts = (await http.get("/page")).headers["strict-transport-security"]
    assert hsts == "max-age=31536000"


async def test_a_crash_and_a_streamed_answer_carry_the_headers_too() -> None:
    async with _bare_app(Settings()) as http:
        crashed = await http.get("/crash")
        streamed = await http.get("/stream")
    assert crashed.status_code == 500
    assert crashed.text == "Internal Server Error"
    assert_edge_headers(crashed, page=False)
    assert streamed.text == "row 0\nrow 1\nrow 2\n"
    assert_edge_headers(streamed, page=False)


async def test_the_page_policy_lets_in_the_configured_stripe_js_and_nothing_else() -> None:
    async with _bare_app(Settings()) as http:
        local = policy_of(await http.get("/page"))
    assert "frame-src" not in local  # default-src 'none': no frames at all
    assert local["script-src"] == ["'self'"]

    stripe = Settings(payment_provider="stripe", stripe_js_url="https://js.stripe.com/v3/")
    async with _bare_app(stripe) as http:
        real = policy_of(await http.get("/page"))
    assert real["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert real["connect-src"][-1] == "https://api.stripe.com"
    assert "https://hooks.stripe.com" in real["frame-src"]

    stand_in = Settings(
        payment_provider="stripe", stripe_js_url="http://127.0.0.1:8420/js.stripe.com/v3/"
    )
    async with _bare_app(stand_in) as http:
        local_stripe = policy_of(await http.get("/page"))
    for directive in ("script-src", "connect-src", "frame-src"):
        assert local_stripe[directive][-1] == "http://127.0.0.1:8420", local_stripe
    assert "https://api.stripe.com" not in local_stripe["connect-src"]


def test_which_origins_are_this_site() -> None:
    public = "https://tickets.example.org"
    assert from_this_site("http://127.0.0.1:8000", "127.0.0.1:8000", public)
    assert from_this_site("HTTPS://Tickets.Example.org", "backend:8000", public)
    assert from_this_site("https://tickets.example.org", "tickets.example.org", public)
    for origin in (
        "null",
        "",
        "https://evil.example",
        "https://tickets.example.org.evil.example",
        "http://tickets.example.org:8080",
        "file://",
        "http://[::1",
        "javascript:alert(1)",
    ):
        assert not from_this_site(origin, "tickets.example.org", public), origin
