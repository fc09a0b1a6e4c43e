"""How fast each RQ worker class runs real hold jobs, measured side by side.

    python -m loadtests.rq_workers [--jobs 1000] [--rounds 3]

Enqueues real ``purchase.jobs.hold_batch_job`` jobs (one request each) for admitted fans of a real
sale, then times ``fairdrop worker --burst`` with each worker class until the
queue is empty, minus the same command's time on an empty queue (process
start-up). Prints one JSON object per run and a summary with medians.
Everything runs on a private Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from rq import Queue

from fairdrop.settings import Settings
from launch.redis_server import start_redis_server
from loadtests.crowds import admitted_crowd
from purchase.db import upgrade_database
from queue_engine.scripts import SyncScripts


def _timed_burst(env: dict[str, str], worker_class: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "launch.cli", "worker", "--burst", "--worker-class", worker_class],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"simple": [], "fork": []}
    with tempfile.TemporaryDirectory() as tmp, start_redis_server(Path(tmp) / "redis") as server:
        settings = Settings(redis_url=server.url, data_dir=Path(tmp))
        upgrade_database(settings)
        env = {**os.environ, **settings.as_env()}
        client = redis.Redis.from_url(server.url)
        scripts = SyncScripts(client)
        queue = Queue(settings.rq_queue, connection=client)
        for _ in range(args.rounds):
            # Interleaved, so both classes see the same machine noise.
            for worker_class in rates:
                start_up = _timed_burst(env, worker_class)
                now_ms = int(time.time() * 1000)
                event_id, fans = admitted_crowd(
                    scripts, args.jobs, args.jobs, start_ms=now_ms - 2_000
                )
                for fan in fans:
                    # One request per job: this measures RQ's cost per job.
                    request = [fan, uuid.uuid4().hex, [["ga", 1]]]
                    queue.enqueue("purchase.jobs.hold_batch_job", event_id, [request])
                seconds = _timed_burst(env, worker_class) - start_up
                rate = args.jobs / seconds
                rates[worker_class].append(rate)
                print(
                    json.dumps(
                        {
                            "worker_class": worker_class,
                            "jobs": args.jobs,
                            "seconds": round(seconds, 3),
                            "jobs_per_s": round(rate),
                        }
                    )
                )
    simple, fork = (statistics.median(rates[c]) for c in ("simple", "fork"))
    print(
        json.dumps(
            {
                "summary": True,
                "median_jobs_per_s_simple": round(simple),
                "median_jobs_per_s_fork": round(fork),
                "ratio": round(simple / fork, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
