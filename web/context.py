"""What a web process holds for its whole life, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio
from rq import Queue
from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from fairdrop.connections import AsyncSaleRedis
from fairdrop.settings import Settings
from fairdrop.tokens import Signer
from queue_engine.scripts import AsyncScripts, SyncScripts
from web.catalog import Catalog
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
