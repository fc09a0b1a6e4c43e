"""What checking a whole draw costs a fan's browser (the fan page's check at the reveal).

    python -m loadtests.browser_draw_check --entrants 100000 --runs 3 [--cpu-throttle 4]

Makes a fairdrop-draw-v2 draw of N synthetic entrants here, in Python's
standard library alone (hashlib, hmac: the algorithm as docs/fairness.md
writes it, not the server's code), serves its draw document and entrant list
on 127.0.0.1 beside the real ``static/``, and in headless Chromium (Debian's)
runs what the fan page runs at the reveal (``static/draw_check.js``): the list
fetched once, then recomputed ``--runs`` times in a fresh
``static/draw_check_worker.js`` each (every sort key with WebCrypto, the order,
every number). Each run must find no problem and the right number for one
entrant. ``--cpu-throttle 4`` slows the page's CPU the way DevTools' "mid-tier
mobile" preset does; it slows the worker's own JavaScript only, not the HMACs
(Chromium runs WebCrypto on threads of its own), so it is no phone.

Prints one JSON line: the median seconds of the runs (from handing the list
to a new worker to its answer), each run, the worker's own time, its steps
(the last run) and the list's size. The page tests import the reference draw from here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from loadtests.chromium import CHROMIUM, CHROMIUM_ARGS

STATIC = Path(__file__).resolve().parents[1] / "static"
DRAW_V1 = "fairdrop-draw-v1"
DRAW_V2 = "fairdrop-draw-v2"
V2_CONTEXT = b"fairdrop-draw-v2:"
# drand's "quicknet" chain: what the lead's beacon object names (SPEC.md).
QUICKNET_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_PERIOD_S = 3
QUICKNET_GENESIS = 1692803367

# Runs in the bench's page: the list fetched once, then each run hands a copy
# to a new worker, as the fan page does once.
BROWSER_RUNS = """async ({runs, ownId}) => {
  const { checkInWorker, fetchEntrants } = await import("/static/draw_check.js");
  const draw = await (await fetch("/draw")).json();
  const list = await fetchEntrants(draw);
  const results = [];
  for (let i = 0; i < runs; i += 1) {
    const copy = list.slice(0);
    let updates = 0;
    const started = performance.now();
    const result = await checkInWorker(draw, copy, ownId, () => { updates += 1; });
    const ms = performance.now() - started;
    results.push({ms, worker_ms: result.ms, updates, problems: result.problems,
                  own_listed: result.ownListed, own_recomputed: result.ownRecomputed,
                  entrants: result.entrants, stages: result.stages});
  }
  return {bytes: list.byteLength, results};
}"""


# ---------- the draw, from docs/fairness.md alone ----------


def entrants_digest(ids: list[str]) -> str:
    """D: SHA-256 over the ids sorted by their UTF-8 bytes, each followed by a newline."""
    return hashlib.sha256(
        b"".join(f.encode() + b"\n" for f in sorted(ids, key=str.encode))
    ).hexdigest()


def draw_key(seed: bytes, algorithm: str, randomness: str) -> bytes:
    """K: the seed (v1), or HMAC(seed, "fairdrop-draw-v2:" + the beacon value in hex) (v2)."""
    if algorithm == DRAW_V1:
        return seed
    return hmac.new(seed, V2_CONTEXT + randomness.encode("ascii"), hashlib.sha256).digest()


def draw_order(seed_hex: str, ids: list[str], algorithm: str, randomness: str) -> list[str]:
    """The ids in queue order (index 0 is number 1): by HMAC(K, D + ":" + id), ties by id."""
    digest = entrants_digest(ids).encode("ascii")
    key = draw_key(bytes.fromhex(seed_hex), algorithm, randomness)

    def sort_key(f: str) -> tuple[bytes, bytes]:
        return hmac.new(key, digest + b":" + f.encode(), hashlib.sha256).digest(), f.encode()

    return sorted(ids, key=sort_key)


def new_entry_id() -> str:
    """An id shaped like the server's (Signer.entrant_id): 16 bytes, base64url, unpadded."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


@dataclass
class Draw:
    """A drawn sale's draw document and its entrants in queue order."""

    document: dict[str, Any]
    order: list[str]

    def listing(self) -> str:
        """The published list: lines "<number> <entry id>"."""
        return "".join(f"{n} {f}\n" for n, f in enumerate(self.order, start=1))

    def number_of(self, entry_id: str) -> int:
        return self.order.index(entry_id) + 1


def beacon_object(round_: int, status: str) -> dict[str, Any]:
    """A beacon object as SPEC.md names it; a verified one has a made-up 48-byte signature."""
    signature = secrets.token_hex(48) if status == "verified" else ""
    randomness = hashlib.sha256(bytes.fromhex(signature)).hexdigest() if signature else ""
    return {
        "url": "http://127.0.0.1:9/",
        "chain_hash": QUICKNET_HASH,
        "public_key": "",
        "scheme": "bls-unchained-g1-rfc9380",
        "period": QUICKNET_PERIOD_S,
        "genesis_time": QUICKNET_GENESIS,
        "round": round_,
        "round_time": QUICKNET_GENESIS + (round_ - 1) * QUICKNET_PERIOD_S,
        "status": status,
        "randomness": randomness,
        "signature": signature,
    }


def make_draw(
    ids: list[str],
    *,
    event_id: str = "bench",
    seed_hex: str | None = None,
    algorithm: str = DRAW_V2,
    beacon: dict[str, Any] | None = None,
    entrants_url: str = "/draw/entrants",
) -> Draw:
    """The draw of ``ids`` (drawn), its document as the server publishes it (SPEC.md)."""
    seed_hex = seed_hex or secrets.token_hex(32)
    if algorithm == DRAW_V2 and beacon is None:
        beacon = beacon_object(1_000_000, "verified")
    randomness = beacon["randomness"] if beacon else ""
    document: dict[str, Any] = {
        "event_id": event_id,
        "algorithm": algorithm,
        "spec": "docs/fairness.md",
        "seed_hash": hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest(),
        "frozen": True,
        "entrants_digest": entrants_digest(ids),
        "frozen_at": "2026-01-01T00:00:00+00:00",
        "drawn": True,
        "seed": seed_hex,
        "entrants": len(ids),
        "entrants_url": entrants_url,
        "drawn_at": "2026-01-01T00:00:05+00:00",
    }
    if beacon is not None:
        unsteerable = beacon["status"] == "verified"
        document["beacon"] = beacon
        document["promise"] = "unsteerable" if unsteerable else "committed-seed"
    return Draw(document, draw_order(seed_hex, ids, algorithm, randomness))


# ---------- serving ----------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Runs an ASGI app on a free port of 127.0.0.1 in a thread; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bench_app(draw: Draw) -> Starlette:
    listing = draw.listing()

    async def blank(_: Request) -> Response:
        return HTMLResponse("<!doctype html><title>draw check bench</title>")

    async def document(_: Request) -> Response:
        return JSONResponse(draw.document)

    async def entrants(_: Request) -> Response:
        return PlainTextResponse(listing)

    return Starlette(
        routes=[
            Route("/", blank),
            Route("/draw", document),
            Route("/draw/entrants", entrants),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )


# ---------- the measurement ----------


def measure(
    entrants: int, runs: int, chromium: str = CHROMIUM, cpu_throttle: float = 1
) -> dict[str, Any]:
    """The figures of ``runs`` checks of one draw of ``entrants`` (the printed line)."""
    started = time.perf_counter()
    draw = make_draw([new_entry_id() for _ in range(entrants)])
    python_s = time.perf_counter() - started
    own = draw.order[len(draw.order) // 2]
    with serving(bench_app(draw)) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(base_url)
        if cpu_throttle != 1:
            cdp = page.context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_throttle})
        answer = page.evaluate(BROWSER_RUNS, {"runs": runs, "ownId": own})
        version = browser.version
        browser.close()
    results = answer["results"]
    for result in results:
        expected = draw.number_of(own)
        if result["problems"] or not result["own_listed"] == result["own_recomputed"] == expected:
            raise AssertionError(f"the browser's check disagrees: {result}")
        if result["entrants"] != entrants:
            raise AssertionError(f"the browser read {result['entrants']} entrants")
    seconds = [round(r["ms"] / 1000, 3) for r in results]
    return {
        "entrants": entrants,
        "runs": runs,
        "median_s": statistics.median(seconds),
        "runs_s": seconds,
        "worker_median_s": round(statistics.median(r["worker_ms"] for r in results) / 1000, 3),
        "worker_stages_s": {k: round(v / 1000, 3) for k, v in results[-1]["stages"].items()},
        "progress_updates": results[0]["updates"],
        "list_bytes": answer["bytes"],
        "cpu_throttle": cpu_throttle,
        "python_reference_s": round(python_s, 3),
        "chromium": version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.browser_draw_check")
    parser.add_argument("--entrants", type=int, default=100_000, help="entrants in the draw")
    parser.add_argument("--runs", type=int, default=3, help="checks of the same draw")
    parser.add_argument("--cpu-throttle", type=float, default=1, help="4: a mid-tier phone")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium to run")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.entrants, args.runs, args.chromium, args.cpu_throttle)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
