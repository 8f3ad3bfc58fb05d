"""Which Redis server serves a key, and calls that follow the key there.

A ``Node`` is one Redis server as the backend uses it: a pool for reads and
a coalescing writer for appends. A ``NodeRouter`` maps each key to its node and
runs every read and append through one retry loop, until ``command_timeout``:

* unreachable (refused, reset, ``LOADING``...): back off and try again --
  on a cluster, after re-reading which node serves the key now;
* ``-MOVED``: the slot has a new owner; learn it, go there at once;
* ``-ASK``: the slot is being migrated and this key already left; send the
  command to the importing node, preceded by ``ASKING``, once;
* ``-TRYAGAIN`` / ``-CLUSTERDOWN``: back off and try again.

None of these replies means the command ran, so resending cannot duplicate
an append. An append whose outcome is unknown (the connection died after it
was sent) is never retried: its caller gets ``BackendUnavailableError``.

``SingleNodeRouter`` is the one-server case; ``ClusterNodeRouter`` (``_cluster``)
reads the slot map of a Redis Cluster.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from redis.exceptions import AskError, MovedError

from tidings._backend import Retention
from tidings._exceptions import BackendError, TidingsError

from ._connections import Command, Connections
from ._errors import REDIRECTS, UNREACHABLE, unavailable
from ._writer import AppendWriter

T = TypeVar("T")
Attempt = Callable[["Node", bool, float], Awaitable[T]]

_FIRST_RETRY_DELAY = 0.02
_MAX_RETRY_DELAY = 0.5

STAT_NAMES = (
    "reconnects",  # a Pub/Sub connection was restored after it was lost
    "resubscribes",  # a channel was subscribed again (reconnect, slot move, failover)
    "redirects",  # -MOVED / -ASK replies followed by reads and appends
    "topology_refreshes",  # the cluster's slot map was re-read and had changed
    "slot_moves",  # a subscribed channel's slot moved to another primary
    "failovers",  # a primary serving subscribed channels was replaced
    "malformed_messages",  # Pub/Sub messages dropped because they were not what an append publishes
)


def new_stats() -> dict[str, int]:
    return dict.fromkeys(STAT_NAMES, 0)


class Node:
    """One Redis server: its read pool and its writer."""

    __slots__ = ("connections", "name", "writer")

    def __init__(self, name: str, connections: Connections, writer: AppendWriter) -> None:
        self.name = name
        self.connections = connections
        self.writer = writer

    async def aclose(self) -> None:
        await self.writer.aclose()
        await self.connections.aclose()

    def __repr__(self) -> str:
        return f"<Node {self.name}>"


class NodeRouter(abc.ABC):
    """Maps keys to nodes; reads and appends with retries and redirections."""

    sharded: ClassVar[bool]
    """Whether live delivery uses sharded Pub/Sub (SSUBSCRIBE, one connection per node)."""

    def __init__(self, *, timeout: float, stats: dict[str, int]) -> None:
        self.timeout = timeout
        self.stats = stats
        self._watchers: list[Callable[[bool], None]] = []

    # -- the map ------------------------------------------------------------------

    @abc.abstractmethod
    async def ready(self) -> None:
        """Know the map (a cluster reads it on first use)."""

    @abc.abstractmethod
    def node_for(self, key: str) -> Node:
        """The node believed to serve ``key`` now (after ``ready()``)."""

    @abc.abstractmethod
    def nodes(self) -> list[Node]:
        """Every node made so far."""

    @abc.abstractmethod
    def is_primary(self, node: Node) -> bool:
        """Whether ``node`` still serves slots, as far as the router knows."""

    def primaries(self) -> list[Node]:
        """Every node serving keys now (after ``ready()``), made if not yet."""
        return [node for node in self.nodes() if self.is_primary(node)]

    @abc.abstractmethod
    def refresh_soon(self) -> None:
        """Re-read the map in the background (after a failure that suggests it changed)."""

    @abc.abstractmethod
    async def refresh(self) -> None:
        """Re-read the map now."""

    def watch(self, changed: Callable[[bool], None]) -> None:
        """Call ``changed(complete)`` whenever the map changes.

        ``complete`` is False when one slot was corrected from a ``-MOVED``
        reply (a full re-read follows), True after a full re-read.
        """
        self._watchers.append(changed)

    def _changed(self, complete: bool) -> None:
        for changed in self._watchers:
            changed(complete)

    @abc.abstractmethod
    def redirected(self, error: AskError) -> Node | None:
        """Take note of a ``-MOVED`` (returns None) or ``-ASK`` (returns the node to ask)."""

    # -- calls ----------------------------------------------------------------------

    async def call(self, key: str, command: Command, *, doing: str) -> Any:
        """Run a read about ``key`` on the node serving it; raw reply.

        Error replies other than redirections are raised as redis-py's
        ``ResponseError`` for the caller to interpret.
        """

        async def attempt(node: Node, asking: bool, deadline: float) -> Any:
            async with asyncio.timeout_at(deadline):
                return await node.connections.call(command, asking=asking)

        return await self._routed(key, attempt, doing=doing)

    async def append(
        self, channel: str, key: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        async def attempt(node: Node, asking: bool, deadline: float) -> list[str]:
            return await node.writer.append(
                channel, key, records, retention, deadline=deadline, asking=asking
            )

        return await self._routed(key, attempt, doing=f"appending to channel {channel!r}")

    async def _routed(self, key: str, attempt: Attempt[T], *, doing: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = _FIRST_RETRY_DELAY
        cause: BaseException | None = None
        asking: Node | None = None
        redirects = 0
        while True:
            node: Node | None = None
            try:
                async with asyncio.timeout_at(deadline):
                    await self.ready()
                node = asking or self.node_for(key)
                return await attempt(node, asking is not None, deadline)
            except TidingsError:
                raise
            except TimeoutError:  # our deadline (redis-py's TimeoutError is distinct)
                raise unavailable(doing, cause, self.timeout) from cause
            except REDIRECTS as exc:
                cause = exc
                asking = None
                if isinstance(exc, AskError):
                    self.stats["redirects"] += 1
                    asking = self.redirected(exc)
                    redirects += 1
                    if redirects <= 2:
                        continue  # follow it at once; a ping-pong between two views backs off
            except UNREACHABLE as exc:
                cause = exc
                asking = None
                self.refresh_soon()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise unavailable(doing, cause, self.timeout) from cause
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_RETRY_DELAY)

    async def aclose(self) -> None:
        for node in self.nodes():
            await node.aclose()


class SingleNodeRouter(NodeRouter):
    """Everything on one Redis server."""

    sharded = False

    def __init__(self, node: Node, *, timeout: float, stats: dict[str, int]) -> None:
        super().__init__(timeout=timeout, stats=stats)
        self._node = node

    async def ready(self) -> None:
        return None

    def node_for(self, key: str) -> Node:
        return self._node

    def nodes(self) -> list[Node]:
        return [self._node]

    def is_primary(self, node: Node) -> bool:
        return True

    def refresh_soon(self) -> None:
        return None  # one server: nothing to re-read

    async def refresh(self) -> None:
        return None

    def redirected(self, error: AskError) -> Node | None:
        kind = "MOVED" if isinstance(error, MovedError) else "ASK"
        refused = BackendError(
            f"Redis answered -{kind} {error}: it is a Redis Cluster node; "
            "use a redis+cluster:// URL (tidings.redis.RedisClusterBackend)"
        )
        refused.__cause__ = error
        raise refused
