"""``fairdrop run`` and the live ``fairdrop demo``: the whole stack on this machine until Ctrl-C.

Whatever stops the start (the port already taken, a part that exits while
starting) is one line on stderr and exit status 1, after every process
started so far has been stopped: no traceback, nothing left running.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time

from fairdrop.settings import Settings
from launch.demo_event import create_demo_event
from launch.redis_server import RedisServerError
from launch.stack import Stack
from launch.stack_options import port_refusal

EXIT_NOT_STARTED = 1
# launch/processes.py's words for a part of the stack that died before it answered.
_EXITED = re.compile(r"(\S+) exited with -?\d+ while starting")
# What a part that cannot start raises from Stack.start (launch/processes.py,
# launch/nginx.py, launch/redis_server.py); anything else is a bug, and shows its traceback.
START_ERRORS = (RuntimeError, RedisServerError, OSError)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_stack(
    settings: Settings, command: str, with_demo_event: bool, web_processes: int = 1
) -> int:
    """The stack until Ctrl-C, unless its port is taken: then nothing starts at all."""
    refused = port_refusal(settings.host, settings.port)
    if refused:
        print(f"fairdrop {command}: {refused}", file=sys.stderr)
        return EXIT_NOT_STARTED
    return serve_stack(settings, command, with_demo_event, web_processes)


def serve_stack(
    settings: Settings, command: str, with_demo_event: bool, web_processes: int = 1
) -> int:
    """Starts the stack, prints where it is, and keeps it until Ctrl-C, SIGTERM or a
    part's exit; its exit status. A part that cannot bind its port (taken since
    :func:`run_stack` looked) stops the start like any other failure."""
    # A SIGTERM (e.g. from a process manager) stops the children as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack(settings, workers=2, persist_redis=True, web_processes=web_processes)
    try:
        stack.start()  # stops whatever it started before it raises
    except START_ERRORS as exc:
        print(f"fairdrop {command}: could not start: {_start_failure(stack, exc)}", file=sys.stderr)
        return EXIT_NOT_STARTED
    except KeyboardInterrupt:
        return 130
    try:
        return _serve(stack, with_demo_event)
    finally:
        stack.stop()


def _start_failure(stack: Stack, exc: BaseException) -> str:
    """The error on one line, with the last line of the log of the part that exited
    (uvicorn's "address already in use"), which says why better than its exit status."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    exited = _EXITED.match(reason)
    log = stack.log_path(exited[1]) if exited else None
    if log is not None and log.is_file():
        lines = log.read_text("utf-8", errors="replace").strip().splitlines()
        if lines:
            reason += f": {' '.join(lines[-1].split())}"
    return f"{reason} (logs: {log.parent if log else stack.settings.data_dir / 'logs'})"


def _serve(stack: Stack, with_demo_event: bool) -> int:
    s = stack.settings
    print(f"fairdrop is running at {stack.base_url}")
    print(f"  organiser page: {stack.base_url}/organiser  (token: {s.organiser_token})")
    print(f"  door check-in:  {stack.base_url}/door  (organiser or door token)")
    print(f"  metrics:        {stack.base_url}/metrics  (bearer token: {s.metrics_token})")
    try:
        if with_demo_event:
            event = asyncio.run(create_demo_event(stack.base_url, s.organiser_token))
            print(f"  demo event:     {stack.base_url}/e/{event['id']}")
            print(f"  draw:           {stack.base_url}/api/events/{event['id']}/draw")
        print("Ctrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    stopped = ", ".join(name for name, p in stack.processes.items() if p.poll() is not None)
    print(f"fairdrop: {stopped} stopped; shutting down", file=sys.stderr)
    return 1
