"""What a web process holds for its whole life, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio
from rq import Queue
from sqlalchemy import Engine
from starlette.requests import HTTPConnection, Request

from fairdrop.connections import AsyncSaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from fairdrop.tokens import Signer
from queue_engine.scripts import AsyncScripts, SyncScripts
from web.auth import require_organiser
from web.catalog import Catalog, EventRecord
from web.hold_batches import HoldBatcher
from web.live import LiveHub
from web.rate_limits import RateLimits


@dataclass
class WebContext:
    settings: Settings
    signer: Signer
    client: AsyncSaleRedis
    scripts: AsyncScripts
    # RQ is synchronous; enqueueing runs in the thread pool on this client.
    rq_client: redis.Redis
    # The sale state for work in the thread pool (an organiser's refund).
    sync_scripts: SyncScripts
    queue: Queue
    holds: HoldBatcher
    engine: Engine
    catalog: Catalog
    hub: LiveHub
    limits: RateLimits


def context_of(conn: HTTPConnection) -> WebContext:
    ctx: WebContext = conn.app.state.fairdrop
    return ctx


def organiser_context(request: Request) -> WebContext:
    """The context, once the request has shown the organiser's token (401 otherwise)."""
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    return ctx


async def organiser_sale(request: Request) -> tuple[WebContext, EventRecord]:
    """:func:`organiser_context` and the path's sale (404 ``unknown_event`` without one)."""
    ctx = organiser_context(request)
    return ctx, await _path_sale(ctx, request)


async def fan_sale(request: Request) -> tuple[WebContext, EventRecord]:
    """The context and the path's sale (404 ``unknown_event`` without one), for anyone."""
    ctx = context_of(request)
    return ctx, await _path_sale(ctx, request)


async def _path_sale(ctx: WebContext, request: Request) -> EventRecord:
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return record
