"""A whole drop under locust on this machine, kept with its plots.

    python -m loadtests.drop_run --fans 2000 --tickets 400 --out loadtests/results

Starts fairdrop (web, clock and RQ workers as real processes, a private
Redis, SQLite) in a temporary directory, runs ``loadtests/locustfile.py``
headless against it (the locustfile creates the event with the organiser
token), and writes locust's CSV files, the run's figures and series, and the
plots (``loadtests.plots``) into ``--out``. locust runs in its own process:
it patches the standard library for gevent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from fairdrop.settings import Settings
from launch.stack import Stack

REPO = Path(__file__).resolve().parents[1]
FIGURES_PREFIX = "FAIRDROP_FIGURES "


def locust_command(base_url: str, token: str, args: argparse.Namespace, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO / "loadtests" / "locustfile.py"),
        "--headless",
        "--only-summary",
        *("--host", base_url),
        f"--organiser-token={token}",  # a token may start with "-"
        *("--drop-fans", str(args.fans)),
        *("--drop-tickets", str(args.tickets)),
        *("--drop-cap", str(args.cap)),
        *("--drop-per-person-limit", str(args.per_person_limit)),
        *("--drop-rate-per-min", str(args.rate_per_min)),
        *("--drop-burst-seconds", str(args.burst_seconds)),
        *("--drop-trickle-seconds", str(args.trickle_seconds)),
        *("--drop-drain-seconds", str(args.drain_seconds)),
        *("--fan-timeout", str(args.fan_timeout)),
        *("--figures-file", str(out / "figures.json")),
        *("--series-file", str(out / "series.json")),
        *("--csv", str(out / "locust")),
        "--csv-full-history",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.drop_run")
    parser.add_argument("--fans", type=int, default=2_000)
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--cap", type=int, default=200, help="fans shopping at once")
    parser.add_argument("--rate-per-min", type=int, default=12_000)
    parser.add_argument(
        "--per-person-limit", type=int, default=2, help="each fan wants 1 to this many"
    )
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--trickle-seconds", type=float, default=10.0)
    parser.add_argument("--drain-seconds", type=float, default=120.0)
    parser.add_argument("--fan-timeout", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "loadtests" / "results")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fairdrop-droprun-") as tmp:
        settings = Settings(data_dir=Path(tmp), port=0).without_rate_limits()
        with Stack(settings, workers=args.workers) as stack:
            command = locust_command(stack.base_url, stack.settings.organiser_token, args, out)
            limit_s = args.burst_seconds + args.trickle_seconds + args.drain_seconds + 120
            done = subprocess.run(
                command, cwd=REPO, capture_output=True, text=True, timeout=limit_s, check=False
            )
    (out / "locust.log").write_text(done.stderr[-200_000:])
    figures = [
        line.removeprefix(FIGURES_PREFIX)
        for line in done.stdout.splitlines()
        if line.startswith(FIGURES_PREFIX)
    ]
    if not figures:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        return 2
    subprocess.run(
        [sys.executable, "-m", "loadtests.plots", str(out / "series.json"), str(out)],
        check=True,
        timeout=120,
    )
    print(json.dumps({"locust_exit": done.returncode, **json.loads(figures[-1])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
