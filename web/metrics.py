"""``GET /metrics``: every process's counts added up, and what Redis holds now.

The counters and gauges are fairdrop/metrics.py's, kept by every web
process, worker and clock in prometheus_client's multiprocess directory
(``Settings.metrics_dir``, PROMETHEUS_MULTIPROC_DIR) and added up here by
the library's MultiProcessCollector, so any web process answers for all of
them. What is a fact of Redis rather than a count (each sale's queue, RQ's
queue) is read at scrape time, in one pipeline, rather than kept in a gauge
that every step would have to write.

Only a bearer of ``FAIRDROP_METRICS_TOKEN`` is answered. Unset, the route
answers 404 ``not_found`` as for any path that does not exist: counts of
joins and payments are a business's figures, and a server nobody set up to
be scraped should not hand them to anyone who asks. It is outside ``/api/``
and so not in the OpenAPI document (tests/web/test_openapi.py), like
``/healthz``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fairdrop.connections import AsyncSaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from queue_engine.keys import EVENTS_INDEX, EventKeys
from web.auth import bearer_is
from web.context import WebContext, context_of

# States in which a sale's waiting fans are in the buffer, not yet numbered.
_BEFORE_THE_DRAW = {"scheduled", "buffering", "drawing"}
# The files of gauges that count only live processes (multiprocess_mode="live..."),
# one per process: gauge_livesum_<pid>.db.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


class _Families:
    """Metric families read before the scrape, handed to the registry as they are."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def sale_families(client: AsyncSaleRedis) -> list[Metric]:
    """Each sale's fans waiting for their turn (in the buffer before the draw,
    numbered after it, none once it sold out, and an open resale round's
    entrants) and fans choosing now: four reads a sale, all in one pipeline."""
    waiting = GaugeMetricFamily(
        "fairdrop_queue_length",
        "Fans waiting for their turn: in the buffer before the draw, numbered after it",
        labels=["sale"],
    )
    shopping = GaugeMetricFamily(
        "fairdrop_fans_shopping", "Fans let in and choosing now", labels=["sale"]
    )
    sales = sorted(_text(raw) for raw in await client.smembers(EVENTS_INDEX))
    if not sales:
        return [waiting, shopping]
    async with client.pipeline(transaction=False) as pipe:
        for sale in sales:
            keys = EventKeys(sale)
            pipe.hmget(keys.meta, ["state", "frozen", "late", "serving", "round_state"])
            pipe.scard(keys.buffer)
            pipe.zcard(keys.shopping)
            pipe.scard(keys.round_buffer)
        answers = await pipe.execute()
    for i, sale in enumerate(sales):
        meta, buffered, choosing, in_round = answers[4 * i : 4 * i + 4]
        state, frozen, late, serving, round_state = meta
        if state is None:
            continue  # deleted since SMEMBERS
        numbered = int(frozen or 0) + int(late or 0) - int(serving or 0)
        # Before the draw: the window's fans, and those who came after the drop
        # and were numbered behind them while the draw waits for its beacon.
        before = _text(state) in _BEFORE_THE_DRAW
        length = buffered + int(late or 0) if before else max(0, numbered)
        if _text(state) == "sold_out":
            length = 0  # told so: nobody waits for a turn any more
        if _text(round_state) == "buffering":
            # An open resale round's entrants wait for its draw; frozen, its
            # block is in late already.
            length += int(in_round)
        waiting.add_metric([sale], float(length))
        shopping.add_metric([sale], float(choosing))
    return [waiting, shopping]


def _rq_family(ctx: WebContext) -> Metric:
    depth = GaugeMetricFamily(
        "fairdrop_rq_queue_depth", "Jobs waiting in the purchase workers' RQ queue"
    )
    depth.add_metric([], float(ctx.queue.count))
    return depth


def forget_dead_processes(metrics_dir: Path) -> None:
    """Live gauges of processes that are gone stop counting (``mark_process_dead``).

    The launcher marks the processes it stops or kills (launch/stack.py);
    this catches the rest, such as uvicorn's own workers (``--processes``),
    which it restarts without telling anyone. Every process writing to one
    directory is on this machine, so a pid that is not running is dead.
    Counters are kept: what a dead process counted still happened.
    """
    for name in os.listdir(metrics_dir):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match is not None and not _running(int(match[1])):
            mark_process_dead(int(match[1]), str(metrics_dir))  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def exposition(metrics_dir: Path | None, live: list[Metric]) -> bytes:
    """The scrape's text: every process's counts (or this one's alone) and ``live``."""
    registry = CollectorRegistry()
    if metrics_dir is not None:
        forget_dead_processes(metrics_dir)
        MultiProcessCollector(registry, str(metrics_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Families(REGISTRY.collect()))
    registry.register(_Families(live))
    return generate_latest(registry)


def routes(settings: Settings) -> list[Route]:
    """``GET /metrics``; its token is checked before anything else is touched."""
    token = settings.metrics_token

    async def metrics(request: Request) -> Response:
        if not token:
            raise FairdropError(ErrorCode.NOT_FOUND, "no such path: metrics are off")
        if not bearer_is(request, token, "metrics"):
            raise FairdropError(ErrorCode.FORBIDDEN, "metrics token is not valid")
        ctx = context_of(request)
        live = await sale_families(ctx.client)
        live.append(await run_in_threadpool(_rq_family, ctx))
        body = await run_in_threadpool(exposition, settings.metrics_dir, live)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
