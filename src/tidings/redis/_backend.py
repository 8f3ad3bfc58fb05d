"""``RedisBackend``: one Redis Stream per channel, live fan-out over Pub/Sub."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import NoScriptError, RedisError
from redis.typing import EncodableT

from tidings._backend import Backend, Entry, LiveListener, LiveSubscription, Retention
from tidings._exceptions import ClosedError, CursorExpiredError, InvalidArgumentError, WrongEventLoopError
from tidings._ids import MAX_KEY, MIN_KEY, IdKey, format_id

from ._config import (
    DEFAULT_URL,
    check_count,
    check_layout,
    check_prefix,
    check_seconds,
    parse_url,
)
from ._connections import Command, Connections
from ._errors import wrap
from ._layout import LAYOUTS, Layout, parse_raw_id
from ._listener import PubSubHub
from ._scripts import AFTER, HEAD, Script
from ._writer import AppendWriter

Execute = Callable[..., Awaitable[Any]]


class _Runtime:
    """Everything bound to the event loop the backend is used on.

    A lifetime task releases it all when cancelled: by ``aclose()``, or by
    the loop's own shutdown (``asyncio.run`` cancels every task before it
    closes the loop), so connections never outlive their loop unclosed.
    """

    def __init__(self, connections: Connections, writer: AppendWriter, hub: PubSubHub) -> None:
        self.connections = connections
        self.writer = writer
        self.hub = hub
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
            await self.writer.aclose()
            await self.connections.aclose()

    async def aclose(self) -> None:
        self._lifetime.cancel()
        await asyncio.gather(self._lifetime, return_exceptions=True)
        await self._release()  # in case the task was cancelled before it ever ran


class RedisBackend(Backend):
    """Channels stored as Redis Streams, live delivery over one Pub/Sub connection.

    ``url_or_client`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
    ``redis.asyncio.Redis`` client whose connection pool is used for reads
    (and whose settings are copied for the backend's two dedicated
    connections; the client stays the caller's to close). Nothing connects
    until first use, inside the running event loop.

    Options:

    * ``prefix`` (default ``"tidings:"``): channel ``c`` is stored in the
      stream ``<prefix>c`` and published on the Pub/Sub channel of the same
      name, so channel names never address unrelated keys.
    * ``layout``: ``"tidings"`` (default) or ``"upstash"``, the exact shapes of
      ``@upstash/realtime`` (bare channel names as keys, no prefix) for
      sharing channels with a TypeScript app.
    * ``command_timeout`` (5 s): the longest any append, read or subscribe
      waits for Redis before raising ``BackendUnavailableError``. An append
      that raises may still have been stored; one that returns always was.
    * ``max_connections`` (50): size of the blocking pool used for reads.
    * ``health_check_interval`` (15 s): an idle Pub/Sub connection is PINGed
      after this long and dropped if the PING is not answered in as long again.
    * ``reconnect_delay`` (0.05 s) doubling up to ``max_reconnect_delay``
      (5 s): backoff between attempts to restore the Pub/Sub connection.
    * ``connection_options``: extra keyword arguments for redis-py's
      connection pool (``password``, ``ssl_ca_certs``, ``client_name``...).

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
        command_timeout: float = 5.0,
        max_connections: int = 50,
        health_check_interval: float = 15.0,
        reconnect_delay: float = 0.05,
        max_reconnect_delay: float = 5.0,
        connection_options: Mapping[str, Any] | None = None,
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
        else:
            raise InvalidArgumentError(
                "url_or_client",
                f"must be a Redis URL or a redis.asyncio.Redis client, got {url_or_client!r}",
            )
        layout_name = check_layout("tidings" if chosen is None else chosen)
        self._layout: Layout = LAYOUTS[layout_name](check_prefix(prefix, layout_name))
        self._timeout = check_seconds("command_timeout", command_timeout)
        self._max_connections = check_count("max_connections", max_connections)
        self._health_check_interval = check_seconds("health_check_interval", health_check_interval)
        self._reconnect_delay = check_seconds("reconnect_delay", reconnect_delay)
        self._max_reconnect_delay = max(
            self._reconnect_delay, check_seconds("max_reconnect_delay", max_reconnect_delay)
        )
        if connection_options is not None and not isinstance(connection_options, Mapping):
            raise InvalidArgumentError("connection_options", f"must be a mapping, got {connection_options!r}")
        self._connection_options = dict(connection_options or {})
        self._runtime: _Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisBackend:
        """A backend for ``url``; ``?prefix=`` and ``?layout=`` in it set those options.

        ``redis+cluster://`` is reserved for Redis Cluster support and refused for now.
        """
        return cls(url, **options)

    @property
    def layout(self) -> str:
        return self._layout.name

    @property
    def prefix(self) -> str:
        return self._layout.prefix

    def stream_key(self, channel: str) -> str:
        """The Redis key of ``channel``'s stream, also the name of its Pub/Sub channel."""
        return self._layout.key(channel)

    # -- Backend ------------------------------------------------------------------------

    async def append(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        runtime = self._use()
        if not records:
            return []
        return await runtime.writer.append(channel, self._layout.key(channel), records, retention)

    async def latest(
        self, channel: str, *, start: IdKey | None, end: IdKey | None, limit: int
    ) -> list[Entry]:
        runtime = self._use()
        command: Command = (
            "XREVRANGE",
            self._layout.key(channel),
            "+" if end is None else format_id(end),
            "-" if start is None else format_id(start),
            "COUNT",
            limit,
        )
        doing = f"reading the history of channel {channel!r}"
        try:
            raw = await runtime.connections.call(command, doing=doing)
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
            runtime.connections.call,
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

    def _use(self) -> _Runtime:
        if self._closed:
            raise ClosedError("this RedisBackend was closed")
        loop = asyncio.get_running_loop()
        runtime = self._runtime
        if runtime is not None and self._loop is loop:
            return runtime
        if runtime is not None and self._loop is not None and not self._loop.is_closed():
            raise WrongEventLoopError(
                "this RedisBackend is in use on another event loop; create one per event loop"
            )
        # First use, or the loop that used us is gone (a finished asyncio.run):
        # its connections died with it.
        self._loop = loop
        runtime = self._runtime = self._start()
        return runtime

    def _start(self) -> _Runtime:
        if self._client is not None:
            connections = Connections(self._client.connection_pool, owns_pool=False, timeout=self._timeout)
        else:
            assert self._url is not None
            options: dict[str, Any] = {
                "protocol": 2,
                "socket_connect_timeout": self._timeout,
                **self._connection_options,
            }
            pool = BlockingConnectionPool.from_url(
                self._url,
                max_connections=self._max_connections,
                timeout=self._timeout,
                **options,
            )
            connections = Connections(pool, owns_pool=True, timeout=self._timeout)
        writer = AppendWriter(
            connections, self._layout, timeout=self._timeout, reconnect_delay=self._reconnect_delay
        )

        async def read_head(key: str) -> IdKey:
            raw = await _run_script(connections.call, HEAD, key, [], doing=f"reading the head of {key!r}")
            return MIN_KEY if raw is None else parse_raw_id(raw)[1]

        layout = self._layout
        hub = PubSubHub(
            connections,
            decode=layout.decode_live,
            read_head=read_head,
            timeout=self._timeout,
            health_check_interval=self._health_check_interval,
            reconnect_delay=self._reconnect_delay,
            max_reconnect_delay=self._max_reconnect_delay,
        )
        return _Runtime(connections, writer, hub)


async def _run_script(
    execute: Execute, script: Script, key: str, args: Sequence[EncodableT], *, doing: str
) -> Any:
    """EVALSHA, falling back to EVAL (which also caches it) when Redis lost the script."""
    try:
        try:
            return await execute(script.evalsha([key], args), doing=doing)
        except NoScriptError:
            # NOSCRIPT means nothing ran, so sending it again cannot duplicate.
            return await execute(script.eval([key], args), doing=doing)
    except RedisError as exc:
        raise wrap(doing, exc) from exc
