"""A ticket drop under locust: fans over real websockets, an organiser, a drop's shape.

Run from the repository root (locust puts the working directory on the path)::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \
        --organiser-token="$FAIRDROP_ORGANISER_TOKEN" [--event-id ID] \
        [--drop-fans 500] [--headless] [--figures-file figures.json] \
        [--series-file series.json]

With ``--event-id`` (or ``FAIRDROP_LOADTEST_EVENT_ID``) the fans join that
event; without one, and with an organiser token, every test start creates a
fresh event whose buffer window closes just after the burst. The shape
(:class:`DropShape`) sends a burst of fans inside the window, a trickle after
it, then waits for the fans still buying; it ends the run by itself.

At every test stop the run's figures are printed as one line,
``FAIRDROP_FIGURES {json}``, and written to ``--figures-file`` if given. They
are this process's: in a distributed run each worker reports its own fans.
``--series-file`` keeps every fan's times and the organiser's stats over time,
which ``python -m loadtests.plots`` draws.

locust is imported first on purpose: it monkey-patches the standard library
for gevent, which must happen before anything else opens sockets. Of
fairdrop's own code only what pulls in no Redis is imported after it: the
protocol's names and launch/fan_client.py (through loadtests/fan_user.py).
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from locust import HttpUser, LoadTestShape, constant, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.drop_figures import drop_figures, drop_series
from loadtests.fan_user import RUN, FanUser, why_refused

__all__ = ["DropShape", "FanUser", "OrganiserUser"]

FIGURES_PREFIX = "FAIRDROP_FIGURES "
API_TIMEOUT_S = 10.0
log = logging.getLogger("fairdrop.loadtest")
# locust's event hooks and shape clock are untyped: each use carries a type: ignore.


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def add_drop_arguments(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--event-id",
        default="",
        env_var="FAIRDROP_LOADTEST_EVENT_ID",
        help="event the fans join; without it a new event is created at test start",
    )
    parser.add_argument(
        "--organiser-token",
        default="",
        env_var="FAIRDROP_ORGANISER_TOKEN",
        is_secret=True,
        help="organiser bearer token: live stats, oversold figure, creating the event",
    )
    parser.add_argument("--drop-fans", type=int, default=200, help="fans in the whole run")
    parser.add_argument(
        "--drop-burst-seconds", type=float, default=3.0, help="the burst inside the window"
    )
    parser.add_argument(
        "--drop-late-share", type=float, default=0.1, help="share of fans arriving after it"
    )
    parser.add_argument(
        "--drop-trickle-seconds", type=float, default=3.0, help="how long the late fans trickle in"
    )
    parser.add_argument(
        "--drop-drain-seconds",
        type=float,
        default=30.0,
        help="after the last arrival, how long to wait for fans still buying",
    )
    parser.add_argument("--fan-timeout", type=float, default=120.0, help="seconds per fan at most")
    parser.add_argument("--drop-tickets", type=int, default=100, help="stock of a created event")
    parser.add_argument(
        "--drop-rate-per-min", type=int, default=6_000, help="admission rate of a created event"
    )
    parser.add_argument("--drop-cap", type=int, default=100, help="fans shopping at once")
    parser.add_argument(
        "--drop-per-person-limit",
        type=int,
        default=2,
        help="per-person limit of a created event; each fan wants 1 to this many",
    )
    parser.add_argument("--drop-hold-seconds", type=int, default=30, help="hold time")
    parser.add_argument("--figures-file", default="", help="also write the figures here (JSON)")
    parser.add_argument(
        "--series-file",
        default="",
        help="write every fan's times and the organiser's stats over time here (JSON), for plots",
    )


def _api(
    host: str, method: str, path: str, token: str = "", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One JSON call to the fairdrop API, outside locust's statistics."""
    request = urllib.request.Request(
        host.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _create_event(host: str, options: Any) -> str:
    """A fresh event whose window closes half a second after the burst."""
    now = datetime.now(UTC)
    window = timedelta(seconds=options.drop_burst_seconds + 0.5)
    body = {
        "name": "locust drop",
        "opens_at": _iso(now - timedelta(seconds=1)),
        "drop_at": _iso(now + window),
        "rate_per_min": options.drop_rate_per_min,
        "cap": options.drop_cap,
        "hold_seconds": options.drop_hold_seconds,
        # Each browser pays its own proof of work; here one process would pay for
        # every fan (loadtests/pow_bench.py measures it). The fan solves when asked.
        "pow_difficulty": 0,
        "ticket_types": [
            {
                "id": "ga",
                "name": "General admission",
                "price_cents": 4_500,
                "currency": "EUR",
                "stock": options.drop_tickets,
                "per_person_limit": options.drop_per_person_limit,
            }
        ],
    }
    created = _api(host, "POST", "/api/events", options.organiser_token, body)
    return str(created["id"])


def _drop_event_id(environment: Environment) -> str:
    """The event given, or a new one; raises ValueError when there can be none."""
    options = environment.parsed_options
    if options is None or not environment.host:
        raise ValueError("--host is required")
    if options.event_id:
        return str(options.event_id)
    if not options.organiser_token:
        raise ValueError("give --event-id, or --organiser-token to create one")
    if isinstance(environment.runner, WorkerRunner):
        raise ValueError("workers need --event-id: create the event once, before")
    event_id = _create_event(environment.host, options)
    log.info("fairdrop drop: created event %s", event_id)
    return event_id


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def find_the_drop(environment: Environment, **_: Any) -> None:
    """Which event the fans join this time, and its ticket type."""
    RUN.reset("", "", "")  # a failed start must not run against the last run's event
    try:
        event_id = _drop_event_id(environment)
        event = _api(environment.host or "", "GET", f"/api/events/{event_id}")
    except (ValueError, OSError) as exc:  # urllib's HTTPError is an OSError
        log.error("fairdrop drop: no event to run against: %s", exc)
        environment.process_exit_code = 2
        return
    options = environment.parsed_options
    token = options.organiser_token if options is not None else ""
    ticket_type = event["ticket_types"][0]
    RUN.reset(event_id, str(ticket_type["id"]), token, int(ticket_type["per_person_limit"]))


def _final_stats(environment: Environment) -> dict[str, Any] | None:
    if not (RUN.event_id and RUN.organiser_token and environment.host):
        return None
    try:
        return _api(
            environment.host, "GET", f"/api/events/{RUN.event_id}/stats", RUN.organiser_token
        )
    except OSError:
        log.exception("fairdrop drop: final stats unavailable; using the last ones polled")
        return RUN.last_stats


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def report_figures(environment: Environment, **_: Any) -> None:
    if not RUN.event_id:
        return
    figures = drop_figures(RUN, _final_stats(environment))
    line = json.dumps(figures, separators=(",", ":"))
    print(FIGURES_PREFIX + line, flush=True)
    options = environment.parsed_options
    if options is not None and options.figures_file:
        Path(options.figures_file).write_text(line + "\n")
    if options is not None and options.series_file:
        Path(options.series_file).write_text(json.dumps(drop_series(RUN)) + "\n")


class OrganiserUser(HttpUser):
    """The organiser watching the dashboard: live stats twice a second."""

    fixed_count = 1
    wait_time = constant(0.5)

    @task
    def watch_stats(self) -> None:
        if not (RUN.event_id and RUN.organiser_token):
            return
        headers = {"Authorization": f"Bearer {RUN.organiser_token}"}
        with self.client.get(
            f"/api/events/{RUN.event_id}/stats", headers=headers, name="stats", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(why_refused("stats", answer))
                return
            RUN.saw_stats(time.monotonic(), answer.json())


class DropShape(LoadTestShape):
    """A burst of fans inside the window, a trickle after it, then the stragglers finish.

    Fans never leave (a fan who is done idles), so the user count is the
    number of fans who have arrived; the organiser is one more user.
    """

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        fans = max(1, int(options.drop_fans))
        late = round(fans * options.drop_late_share)
        burst = fans - late
        burst_s = max(0.5, float(options.drop_burst_seconds))
        trickle_s = max(0.5, float(options.drop_trickle_seconds))
        now = float(self.get_run_time())  # type: ignore[no-untyped-call]
        if now >= 1.0 and not RUN.event_id:
            return None  # the test start found no event (logged): nothing to run
        if now < burst_s:
            # All of the burst in the first 80% of the window, before the drop.
            return 1 + burst, max(1.0, burst / (0.8 * burst_s))
        if now < burst_s + trickle_s:
            arrived = burst + math.ceil(late * (now - burst_s) / trickle_s)
            return 1 + arrived, max(1.0, late / trickle_s)
        everyone_done = len(RUN.fans) >= fans and RUN.all_fans_finished()
        if now < burst_s + trickle_s + options.drop_drain_seconds and not everyone_done:
            return 1 + fans, max(1.0, late / trickle_s)
        return None
