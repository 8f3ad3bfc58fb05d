"""``RedisClusterBackend``: the Redis backend on a Redis Cluster, with sharded Pub/Sub."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from tidings._exceptions import InvalidArgumentError

from ._backend import RedisStreamsBackend
from ._config import ClusterTarget, check_cluster_prefix, parse_cluster_url, with_url_options
from ._layout import ShardedLayout
from ._routing import Node, Router
from ._topology import Address, ClusterRouter, format_address


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

    def _make_router(self) -> Router:
        def make_node(address: Address) -> Node:
            url = self._target.url_of(*address)
            return self._node(format_address(address), self._pool(url), owns_pool=True)

        return ClusterRouter(self._target.nodes, make_node, timeout=self._timeout, stats=self._stats)
