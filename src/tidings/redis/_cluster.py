"""``RedisClusterBackend``: the Redis backend on a Redis Cluster, with sharded Pub/Sub,
and the slot map that routes its keys there (``ClusterNodeRouter``).

The slot map says which primary serves each of the 16384 slots. It is read
with ``CLUSTER SLOTS`` from the first node that answers (known
primaries first, then the startup nodes), corrected on the spot by every
``-MOVED`` reply, and re-read in the background after a ``-MOVED``, a node
that cannot be reached or a sharded channel the server unsubscribed us
from. Re-reads are coalesced: callers that ask while one is running share
it, and one starts at most every ``_MIN_REFRESH_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError

from tidings._exceptions import InvalidArgumentError

from ._backend import RedisStreamsBackend
from ._config import ClusterTarget, check_cluster_prefix, parse_cluster_url, with_url_options
from ._connections import Command
from ._errors import UNREACHABLE
from ._layout import ShardedLayout
from ._routing import Node, NodeRouter

logger = logging.getLogger("tidings.redis")

Address = tuple[str, int]
MakeNode = Callable[[Address], Node]

SLOTS = 16384
_CLUSTER_SLOTS: Command = ("CLUSTER", "SLOTS")
_MIN_REFRESH_INTERVAL = 0.05
_ASK_TIMEOUT = 1.0  # per node asked for the map: a dead one must not hold up the others


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_slots(reply: Sequence[Any], asked: Address) -> list[Address | None]:
    """``CLUSTER SLOTS`` as a list: slot -> primary address (None where uncovered)."""
    owners: list[Address | None] = [None] * SLOTS
    for item in reply:
        first, last, primary = int(item[0]), int(item[1]), item[2]
        host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
        if host in ("", "?"):  # the node does not know its own endpoint: the one we asked
            host = asked[0]
        address = (host, int(primary[1]))
        owners[first : last + 1] = [address] * (last - first + 1)
    return owners


class ClusterNodeRouter(NodeRouter):
    """Routes keys by slot to the primaries of a Redis Cluster."""

    sharded = True

    def __init__(
        self, seeds: Sequence[Address], make_node: MakeNode, *, timeout: float, stats: dict[str, int]
    ) -> None:
        super().__init__(timeout=timeout, stats=stats)
        self._seeds = list(seeds)
        self._make_node = make_node
        self._nodes: dict[Address, Node] = {}
        self._owners: list[Address | None] = [None] * SLOTS
        self._primaries: set[Address] = set()
        self._loaded = False
        self._patched = False  # a slot was corrected from -MOVED since the last full read
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = float("-inf")

    # -- the map ------------------------------------------------------------------

    async def ready(self) -> None:
        if not self._loaded:
            await self.refresh()

    def node_for(self, key: str) -> Node:
        slot = key_slot(key.encode())
        address = self._owners[slot]
        if address is None:
            self.refresh_soon()
            raise ClusterDownError(f"no primary is known to serve slot {slot} (of key {key!r})")
        return self.node_at(address)

    def node_at(self, address: Address) -> Node:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = self._make_node(address)
        return node

    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def is_primary(self, node: Node) -> bool:
        return any(self._nodes.get(address) is node for address in self._primaries)

    def primaries(self) -> list[Node]:
        return [self.node_at(address) for address in sorted(self._primaries)]

    def redirected(self, error: AskError) -> Node | None:
        address: Address = (str(error.host), int(error.port))
        if not isinstance(error, MovedError):
            return self.node_at(address)
        if self._owners[error.slot_id] != address:
            # Correct this slot now; the rest of the map likely changed too.
            self._owners[error.slot_id] = address
            self._primaries.add(address)
            self._patched = True
            self.refresh_soon()
            self._changed(False)
        return None

    def refresh_soon(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)

    async def refresh(self) -> None:
        self.refresh_soon()
        assert self._refreshing is not None
        await asyncio.shield(self._refreshing)

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        error = None if task.cancelled() else task.exception()
        if error is not None and self._loaded:  # before that, the caller of ready() gets it
            logger.warning("tidings: could not re-read the Redis Cluster slot map: %s", error)

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_refresh + _MIN_REFRESH_INTERVAL - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_refresh = loop.time()
        candidates = [*sorted(self._primaries), *self._seeds]
        cause: BaseException | None = None
        for address in dict.fromkeys(candidates):  # deduplicated, in order
            try:
                async with asyncio.timeout(min(_ASK_TIMEOUT, self.timeout)):
                    reply = await self.node_at(address).connections.call(_CLUSTER_SLOTS)
            except UNREACHABLE as exc:  # (including our timeout)
                cause = exc
                continue
            self._install(parse_slots(reply, address))
            return
        raise cause if cause is not None else ConnectionError("no Redis Cluster node to ask")

    def _install(self, owners: list[Address | None]) -> None:
        first = not self._loaded
        self._loaded = True
        patched, self._patched = self._patched, False
        if owners == self._owners and not patched:
            return
        self._owners = owners
        self._primaries = {address for address in owners if address is not None}
        if not first:
            self.stats["topology_refreshes"] += 1
            logger.info(
                "tidings: Redis Cluster slot map changed; primaries: %s",
                ", ".join(format_address(address) for address in sorted(self._primaries)),
            )
        self._changed(True)

    async def aclose(self) -> None:
        task, self._refreshing = self._refreshing, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await super().aclose()


class RedisClusterBackend(RedisStreamsBackend):
    """Channels spread over a Redis Cluster; each one's stream and live feed in one slot.

        RedisClusterBackend("redis+cluster://10.0.0.1:6379,10.0.0.2:6379", prefix="app:")
        Realtime(redis="redis+cluster://10.0.0.1:6379")   # the same, chosen by the scheme

    ``url`` lists startup nodes (one reachable node is enough; the rest are
    discovered with ``CLUSTER SLOTS``); ``rediss+cluster://`` uses TLS;
    credentials and redis-py connection options in the URL apply to every
    node. ``nodes`` may list ``"host:port"`` strings instead of a URL.

    Where things live: channel ``c`` is the stream ``<prefix>{c}`` and the
    sharded Pub/Sub channel of the same name (``}`` and ``%`` in ``c`` are
    escaped), so both sit in the slot of ``c`` and on the same primary. The
    prefix (default ``"tidings:"``) must not contain braces. The
    ``"upstash"`` layout is refused: ``@upstash/realtime`` has no notion of
    a cluster.

    How it works: an append is the same single Lua script as on one Redis
    (store, trim, expire, ``SPUBLISH``: atomic), sent to the primary serving
    the channel's slot, coalesced with other appends to that primary into one
    pipeline. Live delivery uses one Pub/Sub connection per primary that
    serves a subscribed channel, each with its own reader (``SSUBSCRIBE``),
    so a message is read as soon as it arrives.

    Guarantees: those of ``RedisBackend``, through slot migrations and
    failovers. ``-MOVED``/``-ASK`` are followed for reads and appends (an
    append is only resent when Redis says it did not run). When a subscribed
    channel's slot moves, or its primary fails and a replica takes over, the
    channel is subscribed again where it lives now and its listeners get
    ``on_reset()`` (they re-read history from their last id: no gap, no
    duplicate). Each such event is logged on the ``"tidings.redis"`` logger
    and counted in ``stats()``. Limits: a primary that dies before its
    replica received its latest appends loses them (Redis replication is
    asynchronous); listeners may have received them live already.

    Other options: those of ``RedisStreamsBackend`` (``command_timeout``...);
    ``max_connections`` is per node.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        nodes: Sequence[str] | None = None,
        prefix: str | None = None,
        layout: Literal["tidings"] | None = None,
        **options: Any,
    ) -> None:
        if (url is None) == (nodes is None):
            raise InvalidArgumentError(
                "url", "give a redis+cluster:// URL or nodes=['host:port', ...] (one of them)"
            )
        if nodes is not None:
            if isinstance(nodes, str) or not all(isinstance(node, str) for node in nodes):
                raise InvalidArgumentError("nodes", f"must be a list of 'host:port' strings, got {nodes!r}")
            url = "redis+cluster://" + ",".join(nodes)
        assert url is not None
        target = parse_cluster_url(url)
        chosen = target.layout if layout is None else layout
        if chosen not in (None, "tidings"):
            raise InvalidArgumentError(
                "layout",
                f"{chosen!r} is not available on a Redis Cluster: the upstash layout mirrors "
                "@upstash/realtime, which stores channels on a single Redis (bare keys, plain "
                "PUBLISH); use layout='tidings' (the default) here, or RedisBackend on one Redis",
            )
        self._target: ClusterTarget = target
        prefix = target.prefix if prefix is None else prefix
        super().__init__(ShardedLayout(check_cluster_prefix(prefix)), **with_url_options(options, target))

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisClusterBackend:
        """A backend for ``redis+cluster://host:port,...``; ``?prefix=`` in it sets that option."""
        return cls(url, **options)

    @property
    def startup_nodes(self) -> list[str]:
        return [format_address(node) for node in self._target.nodes]

    @property
    def addresses(self) -> list[str]:
        return self.startup_nodes

    def _make_router(self) -> NodeRouter:
        def make_node(address: Address) -> Node:
            url = self._target.url_of(*address)
            return self._node(format_address(address), self._pool(url), owns_pool=True)

        return ClusterNodeRouter(self._target.nodes, make_node, timeout=self._timeout, stats=self._stats)
