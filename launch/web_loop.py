"""The web process's event loop: uvloop, and a garbage collector tuned for serving.

uvicorn calls ``web_loop`` (``loop="launch.web_loop:web_loop"``) in every web
process, before it loads the app, so the choice reaches every worker that
``--processes`` starts. Asking for uvloop by name rather than uvicorn's
``auto`` means a web process without it fails to start instead of quietly
running the slower asyncio loop.

The collector, measured on the join bench (loadtests/http_join_bench.py):
with CPython's default thresholds a web process spent about 14 % of its CPU
in collections, most of it full ones walking every object the imports and
the app made at startup. Those objects live as long as the process, so once
started they are collected and then frozen (``gc.freeze``: never scanned
again), and the youngest generation is collected less often: each request
frees nearly all it allocates by reference counting, so a collection finds
little either way.
"""

from __future__ import annotations

import asyncio
import gc

import uvloop

# Allocations between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 20_000
# After uvicorn has loaded the app and run its startup: the objects alive then stay.
FREEZE_AFTER_S = (3.0, 30.0)


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def web_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop; the process's collector is tuned as it starts."""
    loop = uvloop.new_event_loop()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    for delay in FREEZE_AFTER_S:
        # Twice: the second takes what a slow startup (many workers on a busy box) made late.
        loop.call_later(delay, _freeze)
    return loop
