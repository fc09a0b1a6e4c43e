"""A real Redis Cluster on loopback, for the tests and the demo.

``masters * (1 + replicas)`` plain ``redis-server --cluster-enabled yes``
processes on free ports, formed by ``redis-cli --cluster create``, exactly as
an operator would. Nothing is persisted. The node timeout is short (1 s) so a
killed master's replica takes over within a few seconds in fault tests.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from launch.processes import stop_processes
from launch.redis_server import MAX_CLIENTS, RedisServerError, find_redis_server_binary

NODE_TIMEOUT_MS = 1_000
FORM_TIMEOUT_SECONDS = 30.0
ALL_SLOTS = 16_384
BUS_OFFSET = 10_000
# A node that loses its port to another process is started again on others, this often.
MAX_NODE_RESTARTS = 5
MIN_PORT, MAX_PORT = 20_000, 55_535 - BUS_OFFSET


@dataclass
class ClusterNode:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=1,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class RedisCluster:
    nodes: list[ClusterNode]
    workdir: Path
    killed: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """REDIS_URL for fairdrop (with FAIRDROP_REDIS_CLUSTER): any node will do,
        the client learns the rest from it; the first live one is the most useful."""
        return next(node for node in self.nodes if node.alive).url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node_on(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def master_of_slot(self, slot: int) -> ClusterNode:
        """The node serving ``slot`` now, as a live node reports it."""
        for node in self.nodes:
            if not node.alive:
                continue
            with node.client() as client:
                try:
                    ranges = client.execute_command("CLUSTER", "SLOTS")
                except redis.RedisError:
                    continue
            for start, end, master, *_replicas in ranges:
                if int(start) <= slot <= int(end):
                    return self.node_on(int(master[1]))
        raise RedisServerError(f"no live node reports slot {slot}")

    def master_of_key(self, key: str) -> ClusterNode:
        return self.master_of_slot(key_slot(key.encode()))

    def masters(self) -> list[ClusterNode]:
        """The live masters, by their own word (ROLE)."""
        found = []
        for node in self.nodes:
            if not node.alive:
                continue
            with node.client() as client:
                try:
                    if client.execute_command("ROLE")[0] in (b"master", "master"):
                        found.append(node)
                except redis.RedisError:
                    continue
        return found

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL, as a crashed machine: no goodbye to the other nodes."""
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()
        self.killed.append(node)

    def wait_caught_up(self, master: ClusterNode, timeout: float = FORM_TIMEOUT_SECONDS) -> None:
        """Until every replica of ``master`` has what the master had written when
        called: a failover then loses none of it (replication is asynchronous)."""
        with master.client() as client:
            target = int(client.info("replication")["master_repl_offset"])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                info = client.info("replication")
                offsets = [int(v["offset"]) for k, v in info.items() if k.startswith("slave")]
                if offsets and min(offsets) >= target:
                    return
                time.sleep(0.02)
        raise RedisServerError(f"the replicas of {master.url} did not catch up within {timeout}s")

    def wait_ok(self, timeout: float = FORM_TIMEOUT_SECONDS) -> None:
        """Until every live node says cluster_state:ok with every slot served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_node_ok(node) for node in self.nodes if node.alive):
                return
            time.sleep(0.1)
        raise RedisServerError(f"the cluster in {self.workdir} was not ok within {timeout}s")

    def wait_replicated(self, replicas: int, timeout: float = FORM_TIMEOUT_SECONDS) -> None:
        """Until every master has ``replicas`` replicas online: before that, a
        write waits in vain for a copy (WAIT) and a killed master has no heir."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            masters = self.masters()
            if masters and all(_online_replicas(node) >= replicas for node in masters):
                return
            time.sleep(0.1)
        raise RedisServerError(f"the cluster in {self.workdir} has replicas missing")

    def stop(self) -> None:
        stop_processes([node.process for node in self.nodes])


def _online_replicas(node: ClusterNode) -> int:
    with node.client() as client:
        try:
            info = client.info("replication")
        except redis.RedisError:
            return 0
    return sum(
        1
        for name, value in info.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


def _node_ok(node: ClusterNode) -> bool:
    with node.client() as client:
        try:
            info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
    text = info.decode() if isinstance(info, bytes) else str(info)
    fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return (
        fields.get("cluster_state") == "ok"
        and fields.get("cluster_slots_ok") == str(ALL_SLOTS)
        and fields.get("cluster_known_nodes") is not None
    )


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; Redis refuses
    ports above 55535 in cluster mode, so the kernel's ephemeral range will not do."""
    for _ in range(1_000):
        port = random.randint(MIN_PORT, MAX_PORT)
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            return port
    raise RedisServerError("no free port pair for a cluster node")


def _start_node(binary: Path, workdir: Path) -> ClusterNode:
    port = _cluster_port()
    node_dir = workdir / str(port)
    node_dir.mkdir(parents=True, exist_ok=True)
    with (node_dir / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
                *("--appendonly", "no", "--save", "", "--daemonize", "no"),
                *("--maxclients", str(MAX_CLIENTS)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ClusterNode(port=port, process=process)


def _wait_for_ping(nodes: list[ClusterNode], binary: Path, workdir: Path) -> None:
    """Until every node answers; a node that exited while starting is started
    again on other ports. Its ports were free when picked, but this machine's
    ephemeral ports overlap the range a cluster may use (below 55535), so an
    outgoing connection can take one meanwhile (seen once in about 60 runs)."""
    deadline = time.monotonic() + 10.0
    restarts = 0
    waiting = list(nodes)
    while waiting and time.monotonic() < deadline:
        for node in list(waiting):
            if not node.alive:
                restarts += 1
                if restarts > MAX_NODE_RESTARTS:
                    raise RedisServerError(f"cluster node on {node.port} exited while starting")
                again = _start_node(binary, workdir)
                nodes[nodes.index(node)] = again
                waiting[waiting.index(node)] = again
                continue
            with node.client() as client:
                try:
                    client.ping()
                    waiting.remove(node)
                except redis.RedisError:
                    pass
        time.sleep(0.05)
    if waiting:
        raise RedisServerError(f"cluster nodes {[n.port for n in waiting]} did not answer PING")


def _form(nodes: list[ClusterNode], replicas: int) -> None:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RedisServerError("no redis-cli found: install redis-tools (apt-get install -y redis)")
    result = subprocess.run(
        [
            cli,
            "--cluster",
            "create",
            *(f"127.0.0.1:{node.port}" for node in nodes),
            *("--cluster-replicas", str(replicas), "--cluster-yes"),
        ],
        capture_output=True,
        timeout=FORM_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RedisServerError(
            f"redis-cli --cluster create failed: {result.stdout.decode()[-2000:]}"
            f"{result.stderr.decode()[-2000:]}"
        )


@contextmanager
def running_cluster(workdir: Path, masters: int = 3, replicas: int = 1) -> Iterator[RedisCluster]:
    """A formed cluster, every slot served, until the end of the block; then every node stops."""
    binary = find_redis_server_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = RedisCluster(nodes=[], workdir=workdir)
    try:
        for _ in range(masters * (1 + replicas)):
            cluster.nodes.append(_start_node(binary, workdir))
        _wait_for_ping(cluster.nodes, binary, workdir)
        _form(cluster.nodes, replicas)
        cluster.wait_ok()
        cluster.wait_replicated(replicas)
        yield cluster
    finally:
        cluster.stop()
