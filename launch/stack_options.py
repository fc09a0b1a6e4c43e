"""What ``fairdrop run`` and ``fairdrop demo`` share: where the stack listens and its shape.

Light on purpose (argparse and a socket): every command's parser reads it,
and none of them should wait for the stack's imports to print its help.
"""

from __future__ import annotations

import argparse
import errno
import socket


def add_stack_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--host",
        help="the address fans and organisers reach (default: FAIRDROP_HOST, 127.0.0.1); "
        "0.0.0.0 listens on every interface",
    )
    command.add_argument(
        "--port",
        type=_port,
        metavar="PORT",
        help="the port they reach (default: FAIRDROP_PORT, 8000; 0: any free port); "
        "with --web above 1, nginx's",
    )
    command.add_argument(
        "--web",
        type=int,
        default=1,
        metavar="N",
        help="web processes; above 1 they listen on ports of their own behind nginx, "
        "which listens on --port (docs/scaling.md)",
    )
    command.add_argument(
        "--cluster",
        action="store_true",
        help="the sale state on a Redis Cluster: REDIS_URL's, or without one a local "
        "cluster of 3 masters with a replica each (and a lone Redis for RQ)",
    )


def _port(text: str) -> int:
    """A TCP port for argparse: a usage error now rather than a failed bind later."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: 0 to 65535")
    return port


def port_refusal(host: str, port: int) -> str | None:
    """Why the stack could not listen on ``host:port``, or None when it can.

    Asked before anything starts. The socket is bound as uvicorn and nginx
    bind theirs (SO_REUSEADDR), so a port still in TIME_WAIT after a stop is
    free, as it is to them, and one another server listens on is not.
    """
    if port == 0:
        return None  # a free port is picked
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return _bind_refusal(host, port, exc)
    return None


def _bind_refusal(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another fairdrop?): "
            "choose another with --port or FAIRDROP_PORT"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges this user lacks: choose one above 1023"
    return f"cannot listen on {host}:{port}: {exc.strerror}"
