"""Load-generating client processes driven over pipes.

The benchmarks keep their fans in processes of their own, apart from the web
process and from each other, so a figure is never the benchmark measuring
its own event loop. Each client runs ``target(conn, *args)`` and talks to the
parent over ``conn``.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


def shares(count: int, parts: int) -> list[int]:
    """``count`` split into ``parts`` sizes that differ by at most one."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


@dataclass
class ClientProcesses:
    processes: list[BaseProcess]
    conns: list[Connection]

    @property
    def pids(self) -> list[int]:
        return [p.pid or 0 for p in self.processes]

    def send_all(self, message: Any) -> None:
        for conn in self.conns:
            conn.send(message)

    def recv_all(self, timeout: float) -> list[dict[str, Any]]:
        """One answer from every client, all within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        answers: list[dict[str, Any]] = []
        for conn in self.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("a client process did not answer in time")
            answers.append(conn.recv())
        return answers

    def stop(self) -> None:
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


def start_clients(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> ClientProcesses:
    """One process per entry of ``args``, each running ``target(conn, *entry)``."""
    context = multiprocessing.get_context("fork")
    pipes = [context.Pipe() for _ in args]
    processes: list[BaseProcess] = [
        context.Process(target=target, args=(child, *entry), daemon=True)
        for (_, child), entry in zip(pipes, args, strict=True)
    ]
    for process in processes:
        process.start()
    return ClientProcesses(processes, [parent for parent, _ in pipes])


def raise_file_limit(wanted: int) -> int:
    """Lifts this process's RLIMIT_NOFILE towards ``wanted``; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, min(wanted, hard)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
