"""What the proof of work on join costs a fan's browser, and a bot.

    python -m loadtests.pow_bench --difficulties 10000,50000,100000,250000,1000000 --solves 9

Starts fairdrop (web, worker and clock processes, a private Redis, SQLite) in
a temporary directory and makes one open sale per difficulty (the ALTCHA
maxnumber). In headless Chromium (Debian's), on a page of the app, it does
what the fan page does (``static/pow.js`` ``proofForJoin``): fetches a
challenge as a browser without a cookie, solves it in the page's Web Worker
(``static/pow_worker.js``, WebCrypto SHA-256), and joins with the solution,
which must be accepted. Then Python solves the same challenges again with
altcha's solver (``launch/fan_client.py`` ``solve``: the bot's side) and with
a tighter loop a bot would write, and must find the same numbers. A solve's
time is proportional to the secret number (uniform in 0..maxnumber), so each
line also gives the time per hash, which does not depend on luck.

Prints one JSON line per difficulty, then a summary line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from fairdrop.settings import Settings
from launch.fan_proof import solve
from launch.stack import Stack
from loadtests.chromium import CHROMIUM, CHROMIUM_ARGS

# Runs in a page of the app: the fan page's own module and worker, cookie-less
# (credentials "omit"), so each challenge is a new browser's and each join
# with its solution makes a new entrant.
BROWSER_SOLVES = """async ({api, solves}) => {
  const { proofForJoin } = await import("/static/pow.js");
  const runs = [];
  for (let i = 0; i < solves; i += 1) {
    const started = performance.now();
    const solution = await proofForJoin(api);
    const ms = performance.now() - started;
    const joined = await fetch(`${api}/join`, {
      method: "POST",
      credentials: "omit",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({altcha: solution}),
    });
    const payload = JSON.parse(atob(solution));
    runs.push({ms, tries: payload.number + 1, accepted: joined.ok, payload});
  }
  return runs;
}"""


def _sale(http: httpx.Client, token: str, difficulty: int) -> str:
    now = datetime.now(UTC)
    body = {
        "name": f"proof of work {difficulty}",
        "opens_at": now.isoformat(),
        "drop_at": (now + timedelta(hours=1)).isoformat(),
        "rate_per_min": 60,
        "cap": 10,
        "hold_seconds": 60,
        "pow_difficulty": difficulty,
        "ticket_types": [
            {
                "name": "GA",
                "price_cents": 100,
                "currency": "EUR",
                "stock": 10,
                "per_person_limit": 1,
            }
        ],
    }
    response = http.post("/api/events", json=body, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return str(response.json()["id"])


def _browser_runs(page: Page, api: str, solves: int) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = page.evaluate(BROWSER_SOLVES, {"api": api, "solves": solves})
    return runs


def tight_loop(challenge: dict[str, Any]) -> int:
    """What a bot writes instead of altcha's solver: the salt hashed once, then copied."""
    target = bytes.fromhex(challenge["challenge"])
    salted = hashlib.sha256(challenge["salt"].encode())
    for number in range(challenge["maxnumber"] + 1):
        attempt = salted.copy()
        attempt.update(str(number).encode())
        if attempt.digest() == target:
            return number
    raise ValueError("no number solves this challenge")


def _python_runs(browser_runs: list[dict[str, Any]], difficulty: int) -> dict[str, list[Any]]:
    """The browser's own challenges solved again in Python: altcha's solver and the tight loop.

    Same challenges, same numbers, so the times compare one to one; each
    answer must be the number the browser found (and the server took).
    """
    runs: dict[str, list[dict[str, Any]]] = {"altcha": [], "tight": []}
    for browser_run in browser_runs:
        challenge = {**browser_run["payload"], "maxnumber": difficulty}
        started = time.perf_counter()
        solution = solve(challenge)
        altcha_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        number = tight_loop(challenge)
        tight_ms = (time.perf_counter() - started) * 1000
        agrees = number == browser_run["payload"]["number"] == _number_in(solution)
        runs["altcha"].append({"ms": altcha_ms, "tries": number + 1, "agrees": agrees})
        runs["tight"].append({"ms": tight_ms, "tries": number + 1})
    return runs


def _number_in(solution: str) -> int:
    number: int = json.loads(base64.b64decode(solution))["number"]
    return number


def _figures(runs: list[dict[str, Any]]) -> tuple[float, float]:
    """(median seconds per solve, microseconds per hash over all solves)."""
    median_s = statistics.median(r["ms"] for r in runs) / 1000
    per_hash_us = 1000 * sum(r["ms"] for r in runs) / sum(r["tries"] for r in runs)
    return round(median_s, 4), round(per_hash_us, 3)


def measure(difficulties: list[int], solves: int, chromium: str = CHROMIUM) -> list[dict[str, Any]]:
    """One figure per difficulty, then the summary (the printed lines, in order)."""
    lines: list[dict[str, Any]] = []
    every: dict[str, list[dict[str, Any]]] = {"browser": [], "altcha": [], "tight": []}
    with (
        tempfile.TemporaryDirectory(prefix="fairdrop-powbench-") as tmp,
        Stack(Settings(data_dir=Path(tmp), port=0).without_rate_limits(), workers=1) as stack,
        httpx.Client(base_url=stack.base_url, timeout=30) as http,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        # A page of the app (its Content-Security-Policy applies) that does no work of its own.
        page.goto(f"{stack.base_url}/organiser")
        for difficulty in difficulties:
            api = f"/api/events/{_sale(http, stack.settings.organiser_token, difficulty)}"
            browser_runs = _browser_runs(page, api, solves)
            runs = {"browser": browser_runs, **_python_runs(browser_runs, difficulty)}
            line: dict[str, Any] = {"difficulty": difficulty, "solves": solves}
            for kind, kind_runs in runs.items():
                every[kind].extend(kind_runs)
                line[f"{kind}_median_s"], line[f"{kind}_us_per_hash"] = _figures(kind_runs)
            # The server took each browser solution; Python found the same numbers.
            line["accepted"] = sum(r["accepted"] for r in browser_runs)
            line["python_agrees"] = sum(r["agrees"] for r in runs["altcha"])
            lines.append(line)
        version = browser.version
        browser.close()
    summary: dict[str, Any] = {
        "summary": True,
        "chromium": version,
        "python": platform.python_version(),
    }
    for kind, kind_runs in every.items():
        summary[f"{kind}_us_per_hash"] = _figures(kind_runs)[1]
    # How many times faster than the fan's browser a bot on the same core is.
    summary["altcha_speedup"] = round(
        summary["browser_us_per_hash"] / summary["altcha_us_per_hash"], 1
    )
    summary["tight_speedup"] = round(
        summary["browser_us_per_hash"] / summary["tight_us_per_hash"], 1
    )
    lines.append(summary)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.pow_bench")
    parser.add_argument(
        "--difficulties",
        default="10000,50000,100000,250000,1000000",
        help="comma-separated ALTCHA maxnumbers",
    )
    parser.add_argument("--solves", type=int, default=9, help="solves per difficulty and solver")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium to run")
    args = parser.parse_args(argv)
    difficulties = [int(d) for d in args.difficulties.split(",")]
    for line in measure(difficulties, args.solves, args.chromium):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
