"""``fairdrop run`` and ``fairdrop demo`` on a port someone else holds (launch/run_command.py,
launch/stack_options.py): one line, exit status 1, and no process of theirs left.

The port is held the way another server holds it: bound and listening. Every
process the command starts inherits its environment, so a marker in it finds
them all afterwards, wherever they were reparented; the command's own process
group is checked too.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MARKER = "FAIRDROP_TEST_RUN_MARKER"
# A slow start on a busy machine: Redis, the migrations, four processes, then the stops.
START_TIMEOUT_S = 240


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _processes_left(marker: str, group: int) -> list[str]:
    """Processes carrying ``marker`` in their environment or in process group ``group``."""
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            # The fields after the command's parenthesised name: state, ppid, pgrp, ...
            pgrp = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if f"{MARKER}={marker}".encode() in environ.split(b"\0") or pgrp == group:
            left.append(f"{proc.name}: {cmdline}")
    return left


def _start(argv: list[str], data_dir: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """The command in a session of its own, with a marker in its environment; both."""
    marker = secrets.token_hex(8)
    environ = {**os.environ, MARKER: marker, "FAIRDROP_DATA_DIR": str(data_dir), **env}
    environ.pop("REDIS_URL", None)  # the embedded default: the stack starts its own Redis
    process = subprocess.Popen(
        [sys.executable, *argv],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, marker


def _run(
    argv: list[str], data_dir: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the command to its end; its answer and what it left running."""
    process, marker = _start(argv, data_dir, **env)
    stdout, stderr = process.communicate(timeout=START_TIMEOUT_S)
    answer = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    return answer, _processes_left(marker, process.pid)


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_held_port_stops_the_command_before_anything_starts(
    command: str, held_port: int, tmp_path: Path
) -> None:
    answer, left = _run(["-m", "launch.cli", command, "--port", str(held_port)], tmp_path)

    assert answer.returncode == 1, answer
    assert answer.stderr.splitlines() == [
        f"fairdrop {command}: port {held_port} on 127.0.0.1 is already in use (another "
        "fairdrop?): choose another with --port or FAIRDROP_PORT"
    ]
    assert answer.stdout == ""
    assert left == []
    # Nothing started: no Redis, no database, no process logs.
    assert list(tmp_path.iterdir()) == []


def test_a_port_taken_after_the_check_stops_the_whole_stack(held_port: int, tmp_path: Path) -> None:
    # Past the check, as when another server takes the port between it and uvicorn's bind:
    # Redis, the clock and the workers are already up when the web process fails.
    start = (
        "import sys; from fairdrop.settings import Settings; "
        "from launch.run_command import serve_stack; "
        "sys.exit(serve_stack(Settings.from_env(), 'run', with_demo_event=False))"
    )
    answer, left = _run(["-c", start], tmp_path, FAIRDROP_PORT=str(held_port))

    assert answer.returncode == 1, answer
    [line] = answer.stderr.splitlines()
    assert line.startswith("fairdrop run: could not start: web exited with"), line
    # uvicorn's own words, from the web process's log.
    assert "address already in use" in line and str(held_port) in line, line
    assert left == []
    assert {"web.log", "clock.log", "worker-0.log", "worker-1.log"} <= {
        p.name for p in (tmp_path / "logs").iterdir()
    }


def test_a_part_that_dies_while_running_stops_the_whole_stack(tmp_path: Path) -> None:
    process, marker = _start(["-m", "launch.cli", "run", "--port", "0"], tmp_path)
    with process:
        try:
            stderr = _kill_web_when_up(process, marker)
        finally:
            if process.poll() is None:  # the test failed first: SIGTERM stops the stack
                process.terminate()
                process.communicate(timeout=START_TIMEOUT_S)

    assert process.returncode == 1
    # After the migrations' log lines, which run writes to stderr as it starts.
    assert stderr.splitlines()[-1] == "fairdrop: web stopped; shutting down", stderr
    assert "Traceback" not in stderr
    assert _processes_left(marker, process.pid) == []


def _kill_web_when_up(process: subprocess.Popen[str], marker: str) -> str:
    """Waits for the stack to say it is up, kills its web process; the command's stderr."""
    assert process.stdout is not None and process.stderr is not None
    # A flushed line: the pipe is block-buffered otherwise.
    while (line := process.stdout.readline()) and line != "Ctrl-C stops everything.\n":
        pass
    assert line, process.communicate(timeout=START_TIMEOUT_S)[1]
    [web] = [p for p in _processes_left(marker, process.pid) if "launch.cli web" in p]
    os.kill(int(web.split(":")[0]), signal.SIGKILL)  # as the kernel's OOM killer would
    return process.communicate(timeout=START_TIMEOUT_S)[1]
