"""A real Redis Cluster for tests: ``redis-server --cluster-enabled yes`` processes.

Each node is a ``RedisServer`` (free loopback port, temporary directory, AOF)
started with cluster mode on. The cluster is assembled by hand -- slots
assigned with ``CLUSTER ADDSLOTSRANGE``, nodes introduced with ``CLUSTER
MEET``, replicas attached with ``CLUSTER REPLICATE`` -- which is what
``redis-cli --cluster create`` does, minus its fixed one-second sleeps. It
is ready once every node reports ``cluster_state:ok`` and agrees on who owns
every slot. Helpers move a slot the way ``redis-cli --cluster reshard`` does
and fail a primary over, for fault tests.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.crc import key_slot

from .redis_server import RedisServer

SLOTS = 16384
# Short enough that a killed primary is replaced within a few seconds.
NODE_TIMEOUT_MS = 1000


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, both below 65536."""
    for _ in range(200):
        port = random.randrange(20000, 55000)
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _node(extra: list[str]) -> Node:
    server = RedisServer(appendonly=True, extra=extra)
    server.port = free_cluster_port()
    return Node(server)


@dataclass
class Node:
    server: RedisServer
    id: str = ""

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.server.port, socket_timeout=5)

    def command(self, *args: object) -> object:
        client = self.client()
        try:
            return client.execute_command(*args)
        finally:
            client.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class RedisCluster:
    """``primaries`` primaries sharing the slots evenly; ``replicas[i]`` replicas of primary ``i``."""

    def __init__(self, primaries: int = 3, *, replicas: dict[int, int] | None = None) -> None:
        extra = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # Replicas take over at once: the tests kill primaries on purpose.
            "--cluster-replica-validity-factor", "0",
            # A replica's first sync starts at once instead of after 5 s.
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        self.primaries = [_node(extra) for _ in range(primaries)]
        self.replicas: dict[int, list[Node]] = {
            index: [_node(extra) for _ in range(count)] for index, count in (replicas or {}).items()
        }

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *(node for group in self.replicas.values() for node in group)]

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming every primary as a startup node."""
        return "redis+cluster://" + ",".join(node.address for node in self.primaries)

    def start(self) -> RedisCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for node in self.nodes:
            node.server.start()
            node.id = str(node.command("CLUSTER", "MYID").decode())  # type: ignore[attr-defined]
        share = SLOTS // len(self.primaries)
        for index, node in enumerate(self.primaries):
            first = index * share
            last = SLOTS - 1 if index == len(self.primaries) - 1 else first + share - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", first, last)
        everyone = self.nodes
        for node in everyone[1:]:
            everyone[0].command("CLUSTER", "MEET", "127.0.0.1", node.port)
        _wait(lambda: all(_known_nodes(node) == len(everyone) for node in everyone), "every node to meet")
        for index, group in self.replicas.items():
            for replica in group:
                replica.command("CLUSTER", "REPLICATE", self.primaries[index].id)
        self.wait_stable()

    def wait_stable(self, timeout: float = 30.0) -> None:
        """Every live node says ``cluster_state:ok``, agrees on the slots, and replicas are in sync."""
        live = [node for node in self.nodes if node.server.process is not None]

        def stable() -> bool:
            if not all(_info(node).get("cluster_state") == "ok" for node in live):
                return False
            views = {tuple(_slot_ranges(node)) for node in live}
            if len(views) != 1:
                return False
            return all(
                node.client().info("replication").get("master_link_status") in (None, "up") for node in live
            )

        _wait(stable, "a stable cluster", timeout)

    def owner_of(self, key: str) -> Node:
        """The primary that owns ``key``'s slot, as the first primary sees it."""
        slot = key_slot(key.encode())
        live = next(node for node in self.nodes if node.server.process is not None)
        port = next(port for first, last, port in _slot_ranges(live) if first <= slot <= last)
        return next(node for node in self.nodes if node.port == port)

    def replica_of(self, primary: Node) -> Node:
        for index, node in enumerate(self.primaries):
            if node is primary:
                return self.replicas[index][0]
        raise LookupError(f"no replica of {primary.address}")

    def migrate_slot(
        self, slot: int, source: Node, target: Node, *, between: Callable[[], None] | None = None
    ) -> int:
        """Move ``slot`` from ``source`` to ``target`` like ``redis-cli --cluster reshard``.

        IMPORTING on the target, MIGRATING on the source, MIGRATE of every key
        (``between()`` runs after the first batch, while the slot is split),
        then ``SETSLOT NODE`` on the target, the source and every other node.
        Returns how many keys were moved.
        """
        target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.id)
        source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id)
        moved = 0
        called = between is None
        while True:
            keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, 10)
            assert isinstance(keys, list)
            if not keys:
                break
            source.command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            if not called and between is not None:
                between()
                called = True
        if not called and between is not None:
            between()
        target.command("CLUSTER", "SETSLOT", slot, "NODE", target.id)
        source.command("CLUSTER", "SETSLOT", slot, "NODE", target.id)
        for node in self.primaries:
            if node is not source and node is not target and node.server.process is not None:
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target.id)
        return moved

    def stop(self) -> None:
        for node in self.nodes:
            node.server.stop()


def _info(node: Node) -> dict[str, str]:
    raw = node.command("CLUSTER", "INFO")
    assert isinstance(raw, (bytes, str))
    text = raw.decode() if isinstance(raw, bytes) else raw
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def _known_nodes(node: Node) -> int:
    return int(_info(node).get("cluster_known_nodes", "0"))


def _slot_ranges(node: Node) -> list[tuple[int, int, int]]:
    """``(first, last, primary port)`` for each covered slot range, as ``node`` sees it."""
    client = redis.Redis(port=node.port, socket_timeout=5)
    try:
        ranges = client.execute_command("CLUSTER SLOTS")
    finally:
        client.close()
    # [first, last, [host, port, id], replica...] per range
    return sorted((int(item[0]), int(item[1]), int(item[2][1])) for item in ranges)
