"""The Starlette application (Procfile ``web``)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rq import Queue
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from fairdrop.connections import async_redis, rq_redis, sync_redis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.metrics import count_refusal
from fairdrop.protocol import MessageType
from fairdrop.receipts import ReceiptSigner
from fairdrop.settings import Settings
from fairdrop.tokens import Signer
from purchase.db import make_engine
from queue_engine.scripts import AsyncScripts, SyncScripts
from web import (
    access_list,
    blocklist,
    discounts,
    door,
    draw,
    email_sign_in,
    export,
    fairness_report,
    fans,
    metrics,
    my_orders,
    oidc_sign_in,
    order_list,
    organiser,
    organiser_live,
    presales,
    proof_of_work,
    queue_again,
    receipts,
    resale,
    round_draws,
    sale_steering,
    session_routes,
    sockets,
    stripe_webhook,
    tickets,
)
from web.catalog import Catalog
from web.context import WebContext
from web.edge import Edge
from web.hold_batches import HoldBatcher
from web.live import LiveHub
from web.openapi import DOCUMENT
from web.rate_limits import RateLimits
from web.sockets import CLOSE_UNKNOWN_EVENT
from web.unavailable import DATABASE_DOWN, REDIS_DOWN, answer_database_down, answer_redis_down
from web.validation import CONTROL
from web.views import error_response

log = logging.getLogger("fairdrop.web")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


async def _fairdrop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FairdropError)
    return error_response(exc)


def _methods_at(request: Request) -> set[str]:
    """Every method some route serves at the request's path.

    Starlette's 405 names only the methods of the first route whose path
    matches, and some paths have a route per method (POST and GET
    /api/events): its Allow header left the others out.
    """
    return {
        method
        for route in request.app.routes
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE
        for method in route.methods or ()
    }


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_FIELD)
    count_refusal(code, exc.status_code)
    # exc.headers carries e.g. the Allow header a 405 must have.
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := _methods_at(request)):
        headers["Allow"] = ", ".join(sorted(methods))
    return JSONResponse(
        {"error": {"code": code.value, "message": str(exc.detail)}},
        status_code=exc.status_code,
        headers=headers,
    )


class RefuseControlCharacters:
    """Answers 404 ``not_found`` for a path holding a control character (NUL, ...).

    One guard in front of the router rather than a check in every route: each
    path id (event, hold, request, order, presale link, door token, ticket
    code) goes to PostgreSQL, Redis or RQ, and PostgreSQL refuses a NUL in
    text with an error (a 500) where it should find nothing. No id fairdrop
    issues holds a control character, so nothing real is refused, and routes
    added later are covered too. A websocket is accepted to be closed with a
    close frame (4404, as an unknown event), not dropped.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or not CONTROL.search(scope["path"]):
            await self.app(scope, receive, send)
            return
        refusal = FairdropError(ErrorCode.NOT_FOUND, "no such path: it holds a control character")
        if scope["type"] == "http":
            response = JSONResponse(refusal.as_body(), status_code=refusal.status)
            count_refusal(refusal.code, refusal.status)
            await response(scope, receive, send)
            return
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        # The fan socket's own refusal: an error message, then the close frame.
        await ws.send_text(json.dumps({"t": MessageType.ERROR, **refusal.as_body()["error"]}))
        await ws.close(code=CLOSE_UNKNOWN_EVENT)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


async def _sale_page(request: Request, page: str) -> FileResponse:
    """A sale's page, or a page of its own saying there is no such sale (404)."""
    ctx: WebContext = request.app.state.fairdrop
    if await ctx.catalog.get(request.path_params["event_id"]) is None:
        return FileResponse(STATIC_DIR / "not_found.html", status_code=404)
    return FileResponse(STATIC_DIR / page)


async def fan_page(request: Request) -> FileResponse:
    return await _sale_page(request, "queue.html")


async def organiser_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "organiser.html")


async def fairness_page(request: Request) -> FileResponse:
    return await _sale_page(request, "fairness.html")


async def ticket_page(request: Request) -> FileResponse:
    # The page reads its ticket from the API; an unknown code is its error to show.
    return FileResponse(STATIC_DIR / "ticket.html")


async def door_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "door.html")


async def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/organiser")


async def health(request: Request) -> JSONResponse:
    ctx: WebContext = request.app.state.fairdrop
    await ctx.client.ping()
    return JSONResponse({"ok": True, "sockets": ctx.hub.socket_count()})


def create_app(settings: Settings) -> Starlette:
    secret = settings.secret_key
    if not secret:
        # Fine for one process; several web processes must share FAIRDROP_SECRET_KEY.
        log.warning("FAIRDROP_SECRET_KEY is not set: using a random key for this process")
        secret = secrets.token_urlsafe(32)
    # Made here, so a bad FAIRDROP_RECEIPT_KEY stops the start (SettingsError).
    receipt_signer = ReceiptSigner.from_settings(settings, secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The tables are made before web starts (fairdrop db upgrade, or the stack).
        engine = make_engine(settings)
        client = async_redis(settings)
        scripts = AsyncScripts(client, settings.lifecycle_stream_maxlen)
        signer = Signer(secret)
        limits = RateLimits(settings, client)
        rq_client = rq_redis(settings)
        queue = Queue(settings.rq_queue, connection=rq_client)
        sync_scripts = SyncScripts(sync_redis(settings), settings.lifecycle_stream_maxlen)
        app.state.receipts = receipt_signer
        app.state.fairdrop = WebContext(
            settings=settings,
            signer=signer,
            client=client,
            scripts=scripts,
            rq_client=rq_client,
            sync_scripts=sync_scripts,
            queue=queue,
            holds=HoldBatcher(queue),
            engine=engine,
            catalog=Catalog(engine),
            hub=LiveHub(client, scripts, signer, limits.entrant_share),
            limits=limits,
        )
        try:
            yield
        finally:
            await app.state.fairdrop.holds.close()
            await app.state.fairdrop.hub.close()
            await organiser_live.close_feeds(app.state)
            await client.aclose()
            rq_client.close()
            sync_scripts.client.close()
            engine.dispose()

    routes = [
        *fans.front_door,
        Route("/", home),
        Route("/healthz", health),
        Route("/openapi.json", openapi),
        Route("/e/{event_id}", fan_page),
        Route("/e/{event_id}/fairness", fairness_page),
        Route("/organiser", organiser_page),
        Route("/tickets/{code}", ticket_page),
        Route("/door", door_page),
        *organiser.routes,
        *organiser_live.routes,
        *order_list.routes,
        *sale_steering.routes,
        *draw.routes,
        *round_draws.routes,
        *fairness_report.routes,
        *fans.routes,
        *my_orders.routes,
        *proof_of_work.routes,
        *queue_again.routes,
        *receipts.routes,
        *sockets.routes,
        *tickets.routes,
        *door.routes,
        *resale.routes,
        *export.routes,
        *stripe_webhook.routes,
        *access_list.routes,
        *presales.routes,
        *discounts.routes,
        *oidc_sign_in.routes(settings),
        *email_sign_in.routes,
        *session_routes.routes,
        *blocklist.routes,
        *metrics.routes(settings),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    # The fan socket's path is tried first, ahead of the middleware (web/sockets.py).
    return sockets.FanSocketsFirst(
        routes=routes,
        middleware=[
            # Outermost: its headers go on every answer, its refusal comes before any other work.
            Middleware(Edge, settings=settings),
            # Authlib keeps a sign-in's state, nonce and PKCE verifier in a cookie of its own.
            *oidc_sign_in.middleware(settings, secret),
            Middleware(RefuseControlCharacters),
        ],
        lifespan=lifespan,
        exception_handlers={
            FairdropError: _fairdrop_error,
            HTTPException: _http_error,
            # Redis down or restarting: 503 unavailable, never a 500.
            **dict.fromkeys(REDIS_DOWN, answer_redis_down),
            # PostgreSQL down, for what only it knows (a sale not in the catalog yet).
            **dict.fromkeys(DATABASE_DOWN, answer_database_down),
        },
    )


def app_from_env() -> Starlette:
    """Factory for uvicorn (``--factory``), so several web workers can each build one."""
    return create_app(Settings.from_env())
