"""The SSE endpoint served straight from an ``asyncio.Protocol``: no ASGI server in the data path.

::

    server = await serve_native(realtime, "0.0.0.0", 8000, middleware=authorize)
    await server.serve_forever()

Requests are checked exactly as by ``handle()`` (the same ``RealtimeEndpoint``
code: parsing, limits, middleware, CORS, refusals); only the writing differs.
A stream has no task of its own: its feeds' waker puts it on the endpoint's
dirty list, and ONE callback per loop iteration drains every dirty stream's
feeds synchronously and writes each stream's frames with one
``transport.write``. Only a history read (replay, catch-up) is awaited, in a
short task of that stream. One timer pings every stream; streams that reach
``max_duration`` are ended from one queue.

While a client's socket buffer is full (``pause_writing``), nothing is taken
from its feeds: they overflow into their catch-up from history, as with the
ASGI writer.

The HTTP side -- parsing, request bodies, routing a path to its endpoint or
to the fallback app -- is ``_native_http``; this module holds the streams,
their endpoint and the server.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tidings._exceptions import BackendError, ClosedError, InvalidArgumentError
from tidings._feed import Feed
from tidings._ids import parse_id

from ._connection import Connection, Stop, _Notice
from ._endpoint import _STREAM_HEADERS, EndpointStats, RealtimeEndpoint, _adding_headers
from ._handle import handle
from ._native_http import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_REQUEST_TIMEOUT,
    PROTOCOL_KEY,
    HttpLimits,
    HttpProtocol,
    Routes,
    head,
)
from ._tap import ChannelTap, chunk
from ._types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")

_LAST_CHUNK = b"0\r\n\r\n"


class NativeConnection(Connection):
    """A stream written by its endpoint's flush callback instead of a task."""

    __slots__ = ("_endpoint", "_paused", "_protocol", "_pulling", "_queued", "_shared", "_tap", "_transport")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._endpoint: NativeEndpoint | None = None
        self._protocol: HttpProtocol | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._queued = False
        self._pulling: asyncio.Task[None] | None = None
        # The channel tap of a one-channel stream; _shared while it writes for us.
        self._tap: ChannelTap | None = None
        self._shared = False

    @property
    def subscriptions(self) -> int:
        return 1 if self._shared else super().subscriptions

    def begin(self, endpoint: NativeEndpoint, protocol: HttpProtocol, head: bytes) -> None:
        """Send the response head and the opening frames; from now on, flushes write."""
        self._endpoint = endpoint
        self._protocol = protocol
        self._transport = protocol.transport
        protocol.stream = self
        protocol.transport.write(head + chunk(self.opening()))
        # Replayed history, and whatever arrived since open(), is waiting.
        self._dirty = True
        endpoint._mark(self)

    def _on_feed(self) -> None:
        # Called by a feed, synchronously, on every delivery: keep it short.
        if self._dirty:
            return
        self._dirty = True
        if self._endpoint is not None:
            self._endpoint._mark(self)

    def _wake_writer(self) -> None:
        if self._endpoint is not None:
            self._endpoint._mark(self)

    def flush(self) -> None:
        """Write everything the feeds have now, a due ping, and the reconnect frame if ending."""
        if self._protocol is None or self._pulling is not None or self._stop is Stop.DISCONNECTED:
            return
        chunks: list[bytes] = []
        if self._dirty and not self._paused and not self._shared:
            self._dirty = False
            if not self.take_ready(chunks):
                self._pulling = asyncio.get_running_loop().create_task(self._pull())
                return
        self._write_out(chunks)

    async def _pull(self) -> None:
        chunks: list[bytes] = []
        try:
            await self._take(chunks)
        except Exception:
            logger.exception("tidings.asgi: reading history for a stream failed; closing it")
            if self._protocol is not None:
                self._protocol.transport.close()
            return
        finally:
            self._pulling = None
        self._write_out(chunks)

    def _write_out(self, chunks: list[bytes]) -> None:
        protocol = self._protocol
        if protocol is None or self._stop is Stop.DISCONNECTED or self._ended:
            return  # gone, or the last chunk is written: nothing may follow it
        last = self.finish(chunks)
        if chunks:
            body = b"".join(chunks)
            protocol.transport.write(b"%x\r\n%s\r\n%s" % (len(body), body, _LAST_CHUNK if last else b""))
        if last:
            protocol.transport.close()
        elif self._dirty and not self._paused and self._endpoint is not None:
            self._endpoint._mark(self)
        elif self._tap is not None and not self._shared:
            self._tap.try_join(self)

    # -- the channel tap (``_tap``) ------------------------------------------------

    def in_step(self) -> bool:
        """Nothing pending, nothing blocking: the stream could switch feeds now."""
        return (
            self._protocol is not None
            and self._stop is None
            and not self._paused
            and self._pulling is None
            and not self._dirty
            and len(self._slots) == 1
        )

    def own_feed(self) -> Feed | None:
        return None if self._shared else self._slots[0].feed

    def joined(self, tap: ChannelTap) -> None:
        self._shared = True

    def left(self, tap: ChannelTap, position: str) -> None:
        """The tap stopped writing to us after ``position``: go on from there with a feed of our own."""
        self._shared = False
        slot = self._slots[0]
        slot.last_sent = position
        self._cursor_parts[0] = slot.tag + position
        if self._stop is not None or self._protocol is None:
            return  # ending anyway: its own flush writes the last frame
        self._pulling = asyncio.get_running_loop().create_task(self._reopen(position))

    async def _reopen(self, position: str) -> None:
        chunks: list[bytes] = []
        channel = self._channels[0]
        try:
            slot = await self._open_slot(0, channel, parse_id(position))
        except (BackendError, ClosedError) as exc:
            self._pulling = None
            self.failed(f"channel {channel!r}: {exc}")
            return
        self._pulling = None
        if self._protocol is None or self._stop is Stop.DISCONNECTED:
            await slot.feed.close()  # closed while we reopened
            return
        # Catching up what the socket could not take is not a replay: no max_replay.
        slot.replaying = False
        self._slots[0] = slot
        for notice_slot, notice in self._opening_notices:
            chunks.append(self._notice_frame(notice_slot, notice))
        self._opening_notices = []
        if self._tap is not None and not self._tap.closed:
            self._tap.candidates.add(self)
        self._dirty = True
        self._write_out(chunks)

    def failed(self, text: str) -> None:
        """No feed for our channel any more (the Realtime was closed, or reopening failed):
        say why, then ``reconnect``, so the client goes elsewhere."""
        self._shared = False
        self._slots[0].finished = True
        self.stop(Stop.FAILED)
        self._write_out([self._notice_frame(self._slots[0], _Notice(text))])

    async def close(self) -> None:
        tap = self._tap
        if tap is not None:
            self._tap = None
            self._shared = False
            await tap.leave(self)
            if tap.closed and self._endpoint is not None:
                self._endpoint._forget_tap(tap)
        elif self._endpoint is not None:
            self._endpoint._forget_lone(self)
        await super().close()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self._dirty and self._endpoint is not None:
            self._endpoint._mark(self)

    def lost(self) -> None:
        """The socket closed: stop at once and free the subscriptions."""
        self.stop(Stop.DISCONNECTED)
        self._protocol = None
        self._transport = None
        if self._endpoint is not None:
            self._endpoint._drop(self)


class NativeEndpoint(RealtimeEndpoint):
    """``RealtimeEndpoint`` whose streams are written by ``NativeConnection`` flushes.

    Serve it with ``serve_native()``; it also stays a working ASGI app for
    refusals, but its streams need the native protocol.
    """

    _connection_type = NativeConnection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dirty: list[NativeConnection] = []
        self._flush_scheduled = False
        self._ping_timer: asyncio.TimerHandle | None = None
        self._expiry: collections.deque[tuple[float, weakref.ref[NativeConnection]]] = collections.deque()
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._taps: dict[str, ChannelTap] = {}
        # The one single-channel stream of a channel without a tap: a tap
        # (a second feed) is made only once a second stream comes.
        self._lone: dict[str, NativeConnection] = {}

    # -- the one flush per loop iteration ------------------------------------------

    def _mark(self, connection: NativeConnection) -> None:
        if connection._queued:
            return
        connection._queued = True
        self._dirty.append(connection)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection._queued = False
            try:
                connection.flush()
            except Exception:
                logger.exception("tidings.asgi: writing a stream failed; closing it")
                if connection._protocol is not None:
                    connection._protocol.transport.close()

    # -- streams -------------------------------------------------------------------

    async def _stream(
        self,
        connection: Connection,
        scope: Scope,
        receive: Receive,
        send: Send,
        cors_headers: list[tuple[bytes, bytes]],
    ) -> None:
        assert isinstance(connection, NativeConnection)
        protocol: HttpProtocol = scope[PROTOCOL_KEY]
        self._register(connection)
        try:
            opened = await self._open(connection, scope, receive, _adding_headers(send, cors_headers))
        except BaseException:
            await self._release(connection)
            raise
        if not opened or protocol.closed:
            await self._release(connection)
            return
        headers = [*_STREAM_HEADERS, *cors_headers, (b"transfer-encoding", b"chunked")]
        connection.begin(self, protocol, head(200, headers))
        if len(connection._slots) == 1:
            self._add_to_tap(connection)
        loop = asyncio.get_running_loop()
        if self._ping_timer is None:
            self._ping_timer = loop.call_later(self.settings.ping_interval, self._ping)
        if self.settings.max_duration is not None:
            self._expiry.append((loop.time() + self.settings.max_duration, weakref.ref(connection)))
            if self._expiry_timer is None:
                self._expiry_timer = loop.call_at(self._expiry[0][0], self._expire)

    def _add_to_tap(self, connection: NativeConnection) -> None:
        channel = connection._slots[0].channel
        tap = self._taps.get(channel)
        if tap is None or tap.closed:
            first = self._lone.pop(channel, None)
            if first is None:
                self._lone[channel] = connection
                return
            tap = self._taps[channel] = ChannelTap(self._realtime, channel, self._frames, self._tasks)
            first._tap = tap
            tap.add(first)
        connection._tap = tap
        tap.add(connection)

    def _forget_lone(self, connection: NativeConnection) -> None:
        channel = connection._slots[0].channel if len(connection._slots) == 1 else None
        if channel is not None and self._lone.get(channel) is connection:
            del self._lone[channel]

    def _forget_tap(self, tap: ChannelTap) -> None:
        if self._taps.get(tap.channel) is tap:
            del self._taps[tap.channel]

    def _drop(self, connection: Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._release(connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ping(self) -> None:
        for connection in self._connections:
            assert isinstance(connection, NativeConnection)
            if connection._protocol is not None:
                connection._ping_due = True
                self._mark(connection)
        self._ping_timer = asyncio.get_running_loop().call_later(self.settings.ping_interval, self._ping)

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        expiry = self._expiry
        while expiry and expiry[0][0] <= loop.time():
            connection = expiry.popleft()[1]()
            if connection is not None:
                connection.stop(Stop.EXPIRED)
        self._expiry_timer = loop.call_at(expiry[0][0], self._expire) if expiry else None

    def abort_streams(self) -> None:
        """Cut every stream still open (clients that did not read their reconnect frame)."""
        for connection in list(self._connections):
            assert isinstance(connection, NativeConnection)
            if connection._protocol is not None:
                connection._protocol.transport.abort()

    def stop_timers(self) -> None:
        for timer in (self._ping_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._expiry_timer = None


@dataclass(frozen=True, slots=True)
class NativeStats(EndpointStats):
    """``EndpointStats`` of the server's first endpoint, and the connections that are not streams.

    http_connections: connections open that are not (yet) streams: idle ones,
    requests being read, requests being answered.
    """

    http_connections: int


class NativeServer:
    """A listening socket serving ``NativeEndpoint``s; make it with ``serve_native()``.

    ``endpoint`` is the first (usually the only) endpoint, ``endpoints`` maps
    each stream path to its endpoint.
    """

    def __init__(self, routes: Routes, server: asyncio.Server) -> None:
        self._routes = routes
        self.server = server
        self.endpoints: dict[str, NativeEndpoint] = dict(routes.endpoints)
        found = [*routes.endpoints.values(), *([routes.any_path] if routes.any_path is not None else [])]
        self._unique = list(dict.fromkeys(found))
        self.endpoint = self._unique[0]
        self.port: int = server.sockets[0].getsockname()[1]

    def stats(self) -> NativeStats:
        """The first endpoint's ``stats()``, and the open connections that are not streams."""
        return NativeStats(**asdict(self.endpoint.stats()), http_connections=len(self._routes.pending))

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop listening; send every stream a ``reconnect`` frame and close it.

        Waits up to ``grace`` seconds (default: the endpoints' ``shutdown_timeout``)
        for streams to end and for requests in progress to be answered, then
        cuts whatever is left.
        """
        self.server.close()
        wait = grace if grace is not None else max(e.settings.shutdown_timeout for e in self._unique)
        await asyncio.gather(*(e.shutdown(grace) for e in self._unique), self._routes.finish(wait))
        for endpoint in self._unique:
            endpoint.stop_timers()
            endpoint.abort_streams()
        await self.server.wait_closed()

    async def __aenter__(self) -> NativeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()


def native_endpoint(realtime: Realtime, **options: Any) -> NativeEndpoint:
    """A ``NativeEndpoint`` with ``handle()``'s options (checked by ``handle()`` itself)."""
    checked = handle(realtime, **options)
    return NativeEndpoint(
        realtime, middleware=checked._middleware, cors=checked._cors, settings=checked.settings
    )


async def serve_endpoints(
    endpoints: Mapping[str, NativeEndpoint],
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    any_path: NativeEndpoint | None = None,
    fallback: ASGIApp | None = None,
    backlog: int = 2048,
    max_body: int = DEFAULT_MAX_BODY,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> NativeServer:
    """Serve each endpoint at its exact path (``any_path``: at every other path), the rest by ``fallback``.

    Listens on ``host:port`` (default 127.0.0.1:8000), or on ``sock``, a
    socket already bound and listening (one a parent process handed down).
    The limits are ``serve_native``'s.
    """
    if not endpoints and any_path is None:
        raise InvalidArgumentError("endpoints", "give at least one stream endpoint")
    limits = HttpLimits(max_body=max_body, max_header_size=max_header_size, request_timeout=request_timeout)
    routes = Routes(endpoints, any_path=any_path, fallback=fallback, limits=limits)
    loop = asyncio.get_running_loop()
    if sock is not None:
        if host is not None or port is not None:
            raise InvalidArgumentError("sock", "serve on host and port, or on a listening sock, not both")
        server = await loop.create_server(lambda: HttpProtocol(routes), sock=sock, backlog=backlog)
    else:
        server = await loop.create_server(
            lambda: HttpProtocol(routes),
            "127.0.0.1" if host is None else host,
            8000 if port is None else port,
            backlog=backlog,
        )
    return NativeServer(routes, server)


async def serve_native(
    realtime: Realtime,
    host: str | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    path: str | None = "/api/realtime",
    backlog: int = 2048,
    fallback: ASGIApp | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    **options: Any,
) -> NativeServer:
    """Listen on ``host:port`` and serve ``realtime``'s channels at ``path`` (None: any path).

    ``host`` and ``port`` default to 127.0.0.1 and 8000; ``port=0`` picks a
    free port (see ``NativeServer.port``). Or pass ``sock``, a socket already
    bound and listening (one bound before dropping privileges, or inherited
    by worker processes that share it).

    Other paths get 404, or go to ``fallback``: an ASGI app for small whole
    responses (health checks, metrics, a small JSON API; its responses are
    buffered, never streamed, and sent with ``Connection: close``). A
    request body is read whole before the app runs; one over ``max_body``
    bytes (default 1 MiB) is refused with 413.

    One request per connection, nothing after it is read (a pipelined
    request is ignored). What a client may send is bounded:

    max_header_size:
        bytes of the request line and header lines together (default
        64 KiB); more gets 431, or 414 when the request line alone is too
        long. A URL is at most 65535 bytes whatever this says (httptools).
    request_timeout:
        seconds from connecting until the whole request (head and body) has
        arrived (default 15); then the connection is closed, with a 408 if
        part of a request came. Streams and the fallback's answers are not
        limited by it.

    A malformed request gets 400 and a close.

    ``options`` are those of ``handle()`` (middleware, cors_origins,
    ping_interval, max_duration, ...), with the same protocol and refusals;
    see its docstring. Returns once listening; ``await server.serve_forever()``
    to block, and ``await server.shutdown()`` to send every stream
    ``reconnect`` and stop.
    """
    endpoint = native_endpoint(realtime, **options)
    streams: dict[str, NativeEndpoint] = {}
    if path is not None:
        # A trailing '/' is tolerated, as mounting under a framework would.
        base = path.rstrip("/")
        streams = {base or "/": endpoint, base + "/": endpoint}
    return await serve_endpoints(
        streams,
        host=host,
        port=port,
        sock=sock,
        any_path=endpoint if path is None else None,
        fallback=fallback,
        backlog=backlog,
        max_body=max_body,
        max_header_size=max_header_size,
        request_timeout=request_timeout,
    )
