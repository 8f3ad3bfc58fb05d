"""``RedisBackend``: one Redis Stream per channel, live fan-out over Pub/Sub.

``RedisStreamsBackend`` holds what every Redis deployment shares -- the
layout, reads, appends, the Pub/Sub hub -- on top of a ``NodeRouter`` that says
which server serves a channel: ``RedisBackend`` has one server,
``RedisClusterBackend`` (``_cluster``) a Redis Cluster.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import ConnectionPool
from redis.exceptions import RedisError
from redis.typing import EncodableT

from tidings._backend import Backend, Entry, LiveListener, LiveSubscription, Retention
from tidings._checks import positive_int, positive_seconds
from tidings._exceptions import (
    ClosedError,
    CursorExpiredError,
    InvalidArgumentError,
    WrongEventLoopError,
)
from tidings._ids import MAX_KEY, MIN_KEY, IdKey, format_id

from ._config import (
    DEFAULT_URL,
    check_layout,
    check_prefix,
    parse_url,
    with_url_options,
)
from ._connections import Command, Connections, server_name
from ._errors import wrap
from ._hub import PubSubHub
from ._layout import LAYOUTS, Layout, parse_raw_id
from ._presence import RedisPresence, run_script
from ._routing import STAT_NAMES, Node, NodeRouter, SingleNodeRouter, new_stats
from ._scripts import AFTER, HEAD, Script
from ._writer import AppendWriter


class _Runtime:
    """Everything bound to the event loop the backend is used on.

    A lifetime task releases it all when cancelled: by ``aclose()``, or by
    the loop's own shutdown (``asyncio.run`` cancels every task before it
    closes the loop), so connections never outlive their loop unclosed.
    """

    def __init__(self, router: NodeRouter, hub: PubSubHub, presence: RedisPresence) -> None:
        self.router = router
        self.hub = hub
        self.presence = presence
        self._released = False
        self._lifetime = asyncio.get_running_loop().create_task(self._hold(), name="tidings-redis-lifetime")

    async def _hold(self) -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self._release()

    async def _release(self) -> None:
        if not self._released:
            self._released = True
            await self.hub.aclose()
            await self.router.aclose()

    async def aclose(self) -> None:
        self._lifetime.cancel()
        await asyncio.gather(self._lifetime, return_exceptions=True)
        await self._release()  # in case the task was cancelled before it ever ran


class RedisStreamsBackend(Backend):
    """What every Redis backend shares; subclasses say where channels live (``_make_router``).

    Options (keyword-only, the same for every subclass):

    * ``command_timeout`` (5 s): the longest any append, read or subscribe
      waits for Redis before raising ``BackendUnavailableError``. An append
      that raises may still have been stored; one that returns always was.
    * ``max_connections`` (50): size of the blocking pool used for reads (per node).
    * ``health_check_interval`` (15 s): an idle Pub/Sub connection is PINGed
      after this long and dropped if the PING is not answered in as long again.
    * ``reconnect_delay`` (0.05 s) doubling up to ``max_reconnect_delay``
      (5 s): backoff between attempts to restore a Pub/Sub connection.
    * ``connection_options``: extra keyword arguments for redis-py's
      connection pool (``password``, ``ssl_ca_certs``, ``client_name``...).
    """

    def __init__(
        self,
        layout: Layout,
        *,
        command_timeout: float = 5.0,
        max_connections: int = 50,
        health_check_interval: float = 15.0,
        reconnect_delay: float = 0.05,
        max_reconnect_delay: float = 5.0,
        connection_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._layout = layout
        self._timeout = positive_seconds("command_timeout", command_timeout)
        self._max_connections = positive_int("max_connections", max_connections)
        self._health_check_interval = positive_seconds("health_check_interval", health_check_interval)
        self._reconnect_delay = positive_seconds("reconnect_delay", reconnect_delay)
        self._max_reconnect_delay = max(
            self._reconnect_delay, positive_seconds("max_reconnect_delay", max_reconnect_delay)
        )
        if connection_options is not None and not isinstance(connection_options, Mapping):
            raise InvalidArgumentError("connection_options", f"must be a mapping, got {connection_options!r}")
        self._connection_options = dict(connection_options or {})
        self._stats = new_stats()
        self._runtime: _Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def layout(self) -> str:
        return self._layout.name

    @property
    def prefix(self) -> str:
        return self._layout.prefix

    @property
    def command_timeout(self) -> float:
        """Seconds a command is retried (through reconnects) before it fails."""
        return self._timeout

    @property
    @abc.abstractmethod
    def addresses(self) -> list[str]:
        """``host:port`` (or socket path) of the servers it connects to first, for messages."""

    def stream_key(self, channel: str) -> str:
        """The Redis key of ``channel``'s stream, also the name of its Pub/Sub channel."""
        return self._layout.key(channel)

    def stats(self) -> dict[str, int]:
        """Counters of what this backend went through, for metrics and logs.

        ``reconnects``: Pub/Sub connections restored after a loss;
        ``resubscribes``: channels subscribed again (after a reconnect, a
        slot move or a failover; each such channel's listeners re-read
        history); ``redirects``: ``-MOVED``/``-ASK`` replies followed;
        ``topology_refreshes``: times a cluster's slot map was found changed;
        ``slot_moves``: slots with subscribed channels that moved to another
        primary; ``failovers``: primaries with subscribed channels that were
        replaced; ``malformed_messages``: Pub/Sub messages on a channel's name
        that were not what an append publishes (dropped and logged; the
        channel's listeners re-read history). Also ``pubsub_connections`` and
        ``channels`` now live.
        """
        counters = {name: self._stats[name] for name in STAT_NAMES}
        runtime = self._runtime
        counters["pubsub_connections"] = 0 if runtime is None else runtime.hub.link_count()
        counters["channels"] = 0 if runtime is None else runtime.hub.channel_count()
        return counters

    # -- Backend ------------------------------------------------------------------------

    async def ping(self) -> None:
        """``PING`` every primary (on a cluster: every one the slot map names; any of them down
        leaves the channels of its slots unserved).

        One pooled connection per primary and no retry: a readiness check
        must say "not now" within its caller's timeout rather than retry for
        ``command_timeout``.
        """
        router = self._use().router
        try:
            await router.ready()
            await asyncio.gather(*(node.connections.call(("PING",)) for node in router.primaries()))
        except (RedisError, OSError) as exc:
            raise wrap("sending PING (the readiness check)", exc) from exc

    async def append(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        runtime = self._use()
        if not records:
            return []
        return await runtime.router.append(channel, self._layout.key(channel), records, retention)

    async def latest(
        self, channel: str, *, start: IdKey | None, end: IdKey | None, limit: int
    ) -> list[Entry]:
        runtime = self._use()
        key = self._layout.key(channel)
        command: Command = (
            "XREVRANGE",
            key,
            "+" if end is None else format_id(end),
            "-" if start is None else format_id(start),
            "COUNT",
            limit,
        )
        doing = f"reading the history of channel {channel!r}"
        try:
            raw = await runtime.router.call(key, command, doing=doing)
        except RedisError as exc:  # refused (WRONGTYPE...), or a reply it could not parse
            raise wrap(doing, exc) from exc
        entries = self._layout.decode_stored(channel, raw)
        entries.reverse()
        return entries

    async def after(
        self, channel: str, cursor: IdKey, *, limit: int, end: IdKey | None = None
    ) -> list[Entry]:
        runtime = self._use()
        if cursor >= MAX_KEY:
            return []  # nothing can follow the largest id (and "(max" is not a valid bound)
        deleted, oldest, raw = await _run_script(
            runtime.router,
            AFTER,
            self._layout.key(channel),
            ["(" + format_id(cursor), "+" if end is None else format_id(end), limit],
            doing=f"reading channel {channel!r} after {format_id(cursor)}",
        )
        if deleted is not None and cursor < parse_raw_id(deleted)[1]:
            raise CursorExpiredError(
                channel,
                format_id(cursor),
                None if oldest is None else oldest.decode(),
                deleted.decode(),
            )
        return self._layout.decode_stored(channel, raw)

    async def subscribe(self, channel: str, listener: LiveListener) -> LiveSubscription:
        runtime = self._use()
        return await runtime.hub.subscribe(self._layout.key(channel), channel, listener)

    async def presence_enter(
        self,
        channel: str,
        client_id: str,
        connection_id: str,
        member: bytes,
        *,
        ttl_ms: int,
        retention: Retention,
    ) -> str | None:
        return await self._use().presence.enter(
            channel, client_id, connection_id, member, ttl_ms=ttl_ms, retention=retention
        )

    async def presence_leave(
        self, channel: str, connection_ids: Sequence[str], *, retention: Retention
    ) -> list[str]:
        return await self._use().presence.leave(channel, connection_ids, retention=retention)

    async def presence_refresh(
        self, connections: Mapping[str, Sequence[str]], *, ttl_ms: int
    ) -> dict[str, list[str]]:
        return await self._use().presence.refresh(connections, ttl_ms=ttl_ms)

    async def presence_sweep(self, *, retention: Retention) -> int:
        return await self._use().presence.sweep(retention=retention)

    async def presence_members(self, channel: str, *, limit: int) -> list[bytes]:
        return await self._use().presence.members(channel, limit=limit)

    async def presence_count(self, channel: str) -> int:
        return await self._use().presence.count(channel)

    def live_listener_count(self) -> int:
        return 0 if self._runtime is None else self._runtime.hub.listener_count()

    async def aclose(self) -> None:
        self._closed = True
        runtime, self._runtime = self._runtime, None
        loop, self._loop = self._loop, None
        if runtime is None or loop is None or loop.is_closed():
            return  # a closed loop already released the runtime on its way out
        if loop is asyncio.get_running_loop():
            await runtime.aclose()
        else:
            asyncio.run_coroutine_threadsafe(runtime.aclose(), loop)

    # -- internals ------------------------------------------------------------------------

    @abc.abstractmethod
    def _make_router(self) -> NodeRouter:
        """The router for one event loop's lifetime (nothing connects yet)."""

    def _node(self, name: str, pool: ConnectionPool, *, owns_pool: bool) -> Node:
        connections = Connections(pool, owns_pool=owns_pool, timeout=self._timeout)
        return Node(name, connections, AppendWriter(connections, self._layout, timeout=self._timeout))

    def _pool(self, url: str) -> BlockingConnectionPool:
        options: dict[str, Any] = {
            "protocol": 2,
            "socket_connect_timeout": self._timeout,
            **self._connection_options,
        }
        return BlockingConnectionPool.from_url(
            url, max_connections=self._max_connections, timeout=self._timeout, **options
        )

    def _use(self) -> _Runtime:
        if self._closed:
            raise ClosedError(f"this {type(self).__name__} was closed")
        loop = asyncio.get_running_loop()
        runtime = self._runtime
        if runtime is not None and self._loop is loop:
            return runtime
        if runtime is not None and self._loop is not None and not self._loop.is_closed():
            raise WrongEventLoopError(
                f"this {type(self).__name__} is in use on another event loop; create one per event loop"
            )
        # First use, or the loop that used us is gone (a finished asyncio.run):
        # its connections died with it.
        self._loop = loop
        runtime = self._runtime = self._start()
        return runtime

    def _start(self) -> _Runtime:
        router = self._make_router()

        async def read_head(key: str) -> IdKey:
            raw = await _run_script(router, HEAD, key, [], doing=f"reading the head of {key!r}")
            return MIN_KEY if raw is None else parse_raw_id(raw)[1]

        hub = PubSubHub(
            router,
            decode=self._layout.decode_live,
            read_head=read_head,
            timeout=self._timeout,
            health_check_interval=self._health_check_interval,
            reconnect_delay=self._reconnect_delay,
            max_reconnect_delay=self._max_reconnect_delay,
        )
        return _Runtime(router, hub, RedisPresence(router, self._layout, timeout=self._timeout))


class RedisBackend(RedisStreamsBackend):
    """Channels stored as Redis Streams, live delivery over one Pub/Sub connection.

    ``url_or_client`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
    ``redis.asyncio.Redis`` client whose connection pool is used for reads
    (and whose settings are copied for the backend's two dedicated
    connections; the client stays the caller's to close). Nothing connects
    until first use, inside the running event loop. For a Redis Cluster, use
    ``RedisClusterBackend`` (``redis+cluster://`` URLs).

    Options:

    * ``prefix`` (default ``"tidings:"``): channel ``c`` is stored in the
      stream ``<prefix>c`` and published on the Pub/Sub channel of the same
      name, so channel names never address unrelated keys.
    * ``layout``: ``"tidings"`` (default) or ``"upstash"``, the exact shapes of
      ``@upstash/realtime`` (bare channel names as keys, no prefix) for
      sharing channels with a TypeScript app.
    * and those of ``RedisStreamsBackend``: ``command_timeout``,
      ``max_connections``, ``health_check_interval``, ``reconnect_delay``,
      ``max_reconnect_delay``, ``connection_options``.

    Guarantees beyond ``tidings.Backend``'s: an append is a single Lua script
    (store, trim, expire, publish: all or nothing) sent with others in one
    pipeline; ``after`` detects trimmed history exactly (Redis >= 7.0
    required); listeners of a channel that is already live cost no Redis
    command to add; a lost Pub/Sub connection is reported to every listener
    (``DISCONNECTED``) and, once restored, followed by ``CONNECTED`` and
    ``on_reset``.
    """

    def __init__(
        self,
        url_or_client: str | Redis = DEFAULT_URL,
        *,
        prefix: str | None = None,
        layout: Literal["tidings", "upstash"] | None = None,
        **options: Any,
    ) -> None:
        self._client: Redis | None = None
        self._url: str | None = None
        chosen: str | None = layout
        if isinstance(url_or_client, Redis):
            self._client = url_or_client
        elif isinstance(url_or_client, str):
            target = parse_url(url_or_client)
            self._url = target.url
            prefix = target.prefix if prefix is None else prefix
            chosen = target.layout if layout is None else layout
            options = with_url_options(options, target)
        else:
            raise InvalidArgumentError(
                "url_or_client",
                f"must be a Redis URL or a redis.asyncio.Redis client, got {url_or_client!r}",
            )
        layout_name = check_layout("tidings" if chosen is None else chosen)
        super().__init__(LAYOUTS[layout_name](check_prefix(prefix, layout_name)), **options)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisBackend:
        """A backend for ``url``; ``?prefix=``, ``?layout=``, ``?command_timeout=`` in it set those options.

        ``redis+cluster://`` URLs are for ``RedisClusterBackend.from_url``
        (``Realtime(redis=...)`` picks the right one).
        """
        return cls(url, **options)

    @property
    def addresses(self) -> list[str]:
        if self._client is not None:
            return [server_name(self._client.connection_pool)]
        assert self._url is not None
        return [server_name(BlockingConnectionPool.from_url(self._url))]

    def _make_router(self) -> NodeRouter:
        if self._client is not None:
            pool: ConnectionPool = self._client.connection_pool
        else:
            assert self._url is not None
            pool = self._pool(self._url)
        node = self._node(server_name(pool), pool, owns_pool=self._client is None)
        return SingleNodeRouter(node, timeout=self._timeout, stats=self._stats)


async def _run_script(
    router: NodeRouter, script: Script, key: str, args: Sequence[EncodableT], *, doing: str
) -> Any:
    return await run_script(router, script, [key], args, doing=doing)
