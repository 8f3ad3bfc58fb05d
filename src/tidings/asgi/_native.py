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
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import httptools

from tidings._exceptions import BackendError, ClosedError
from tidings._ids import parse_id
from tidings._subscription import Feed

from ._connection import Connection, Stop, _Notice
from ._endpoint import _STREAM_HEADERS, RealtimeEndpoint, _adding_headers
from ._handle import handle
from ._responses import error_response
from ._tap import ChannelTap, chunk
from ._types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")

_PROTOCOL_KEY = "tidings.native"
_LAST_CHUNK = b"0\r\n\r\n"


def _head(status: int, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase.encode("latin-1")
    except ValueError:
        reason = b""
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class NativeConnection(Connection):
    """A stream written by its endpoint's flush callback instead of a task."""

    __slots__ = ("_endpoint", "_paused", "_protocol", "_pulling", "_queued", "_shared", "_tap", "_transport")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._endpoint: NativeEndpoint | None = None
        self._protocol: _HttpProtocol | None = None
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

    def begin(self, endpoint: NativeEndpoint, protocol: _HttpProtocol, head: bytes) -> None:
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
        if protocol is None or self._stop is Stop.DISCONNECTED:
            return
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
            self._slots[0].finished = True
            chunks.append(self._notice_frame(self._slots[0], _Notice(f"channel {channel!r}: {exc}")))
            self.stop(Stop.FAILED)
            self._write_out(chunks)
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
        """The tap's feed ended (the Realtime was closed): tell the client to go elsewhere."""
        self._shared = False
        self._slots[0].finished = True
        self._write_out([self._notice_frame(self._slots[0], _Notice(text))])
        self.stop(Stop.FAILED)

    async def close(self) -> None:
        tap = self._tap
        if tap is not None:
            self._tap = None
            self._shared = False
            await tap.leave(self)
            if tap.closed and self._endpoint is not None:
                self._endpoint._forget_tap(tap)
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
        protocol: _HttpProtocol = scope[_PROTOCOL_KEY]
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
        connection.begin(self, protocol, _head(200, headers))
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
            tap = self._taps[channel] = ChannelTap(self._realtime, channel, self._frames, self._tasks)
        connection._tap = tap
        tap.add(connection)

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


class _HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: one GET, then a stream or a response and close."""

    __slots__ = (
        "_body",
        "_disconnected",
        "_head_only",
        "_headers",
        "_parser",
        "_response",
        "_started",
        "_url",
        "closed",
        "endpoint",
        "fallback",
        "path",
        "stream",
        "transport",
    )

    def __init__(self, endpoint: NativeEndpoint, path: str | None, fallback: ASGIApp | None) -> None:
        self.endpoint = endpoint
        self.path = path
        self.fallback = fallback
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.stream: NativeConnection | None = None
        self.closed = False
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._started = False
        self._disconnected: asyncio.Future[None] | None = None
        self._response: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._body: list[bytes] = []
        self._head_only = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._started:
            return  # one request per connection; a stream reads nothing more
        if self._parser is None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not served here")
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._parser = None
        if self.stream is not None:
            self.stream.lost()
            self.stream = None
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)

    def pause_writing(self) -> None:
        if self.stream is not None:
            self.stream.pause()

    def resume_writing(self) -> None:
        if self.stream is not None:
            self.stream.resume()

    # -- httptools callbacks ---------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_message_complete(self) -> None:
        self._started = True
        task = asyncio.get_running_loop().create_task(self._serve())
        self.endpoint._tasks.add(task)
        task.add_done_callback(self.endpoint._tasks.discard)

    # -- the request -----------------------------------------------------------------

    async def _serve(self) -> None:
        parser = self._parser
        if parser is None:
            return  # the client left already
        # A stream keeps none of its request: only the scope (gone once admitted) holds it.
        self._parser = None
        url = httptools.parse_url(self._url)
        self._url = b""
        headers, self._headers = self._headers, []
        path = url.path.decode("latin-1")
        peer = self.transport.get_extra_info("peername")
        method = parser.get_method().decode("ascii")
        self._head_only = method == "HEAD"
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": parser.get_http_version(),
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": url.path,
            "root_path": "",
            "query_string": url.query or b"",
            "headers": headers,
            "client": tuple(peer[:2]) if peer else None,
            _PROTOCOL_KEY: self,
        }
        app: ASGIApp = self.endpoint
        if self.path is not None and path.rstrip("/") != self.path.rstrip("/"):
            if self.fallback is None:
                self._refuse(404, f"no endpoint at {path}; the stream is at {self.path}")
                return
            app = self.fallback
        try:
            await app(scope, self._receive, self._send)
        except Exception:
            logger.exception("tidings.asgi: serving a request failed")
            self._refuse(500, "internal server error")
            return
        if self.stream is None and not self.closed:
            # The app answered nothing (or only part): do not leave the client hanging.
            self.transport.close()

    async def _receive(self) -> Message:
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
            if self.closed:
                self._disconnected.set_result(None)
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnected
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        """Whole responses only (refusals, preflights): buffered, then written and closed."""
        if message["type"] == "http.response.start":
            self._response = (int(message["status"]), list(message.get("headers", ())))
            return
        if message["type"] != "http.response.body" or self._response is None:
            return
        self._body.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, headers = self._response
        body = b"".join(self._body)
        headers = [(name.lower(), value) for name, value in headers if name.lower() != b"connection"]
        if (
            status >= 200
            and status not in (204, 304)
            and not any(name == b"content-length" for name, _ in headers)
        ):
            headers.append((b"content-length", b"%d" % len(body)))
        headers.append((b"connection", b"close"))
        if self._head_only:
            body = b""
        self._write_and_close(_head(status, headers) + body)

    def _refuse(self, status: int, message: str) -> None:
        response = error_response(status, message)
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
        raw += [(b"content-length", b"%d" % len(response.body)), (b"connection", b"close")]
        self._started = True
        self._write_and_close(_head(status, raw) + response.body)

    def _write_and_close(self, data: bytes) -> None:
        if self.closed or self.transport.is_closing():
            return
        self.transport.write(data)
        self.transport.close()


class NativeServer:
    """A listening socket serving one ``NativeEndpoint``; make it with ``serve_native()``."""

    def __init__(self, endpoint: NativeEndpoint, server: asyncio.Server) -> None:
        self.endpoint = endpoint
        self.server = server
        self.port: int = server.sockets[0].getsockname()[1]

    def stats(self) -> Any:
        return self.endpoint.stats()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop listening; send every stream a ``reconnect`` frame and close it."""
        self.server.close()
        await self.endpoint.shutdown(grace)
        self.endpoint.stop_timers()
        self.endpoint.abort_streams()
        await self.server.wait_closed()

    async def __aenter__(self) -> NativeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()


async def serve_native(
    realtime: Realtime,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    path: str | None = "/api/realtime",
    backlog: int = 2048,
    fallback: ASGIApp | None = None,
    **options: Any,
) -> NativeServer:
    """Listen on ``host:port`` and serve ``realtime``'s channels at ``path`` (None: any path).

    Other paths get 404, or go to ``fallback``: an ASGI app for small whole
    responses (health checks, metrics; its responses are buffered, never streamed).

    ``options`` are those of ``handle()`` (middleware, cors_origins,
    ping_interval, max_duration, ...), with the same protocol and refusals;
    see its docstring. Returns once listening (``port=0``: any free port, see
    ``NativeServer.port``); ``await server.serve_forever()`` to block, and
    ``await server.shutdown()`` to send every stream ``reconnect`` and stop.
    """
    checked = handle(realtime, **options)
    endpoint = NativeEndpoint(
        realtime, middleware=checked._middleware, cors=checked._cors, settings=checked.settings
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _HttpProtocol(endpoint, path, fallback), host, port, backlog=backlog
    )
    return NativeServer(endpoint, server)
