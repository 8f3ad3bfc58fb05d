"""The endpoint: checks a request, opens its stream, keeps count of streams; and the ASGI app over it.

A server that writes streams itself (``tidings.native``) calls
``open_stream()``, ``start_stream()`` with each stream's own writer, and ``release()``;
under ASGI, ``__call__`` does the same with a ``SendWriter``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from tidings._counters import COUNTERS
from tidings._exceptions import BackendError, ClosedError
from tidings._presence import Membership

from ._connection import Connection, Stop
from ._cors import CorsPolicy
from ._errors import BadRequest
from ._frames import FrameCache
from ._pacer import Pacer
from ._presence import Identity, StreamPresence
from ._request import Request, read_channels, read_positions
from ._responses import error_response
from ._send_writer import SendWriter
from ._settings import StreamSettings
from ._signals import close_on_signal
from ._taps import Taps
from ._types import ASGIApp, Message, Receive, Scope, Send
from ._writer import StreamWriter

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")

MiddlewareResult: TypeAlias = ASGIApp | None
Middleware: TypeAlias = Callable[[Request, Sequence[str]], Awaitable[MiddlewareResult] | MiddlewareResult]
"""``middleware(request, channels)`` -> None to allow, or an ASGI response to send instead."""

_ALLOW = [(b"allow", b"GET, OPTIONS")]


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """A snapshot for metrics and leak checks.

    connections: streams open now (including ones still subscribing).
    subscriptions: channel subscriptions those streams hold.
    backend_listeners: live listeners attached to the backend in this process
    (all of them, not only this endpoint's).
    tasks: asyncio tasks alive in this event loop.
    served: streams opened since start.
    """

    connections: int
    subscriptions: int
    backend_listeners: int
    tasks: int
    served: int


class RealtimeEndpoint:
    """Serves a ``Realtime``'s channels to browsers over Server-Sent Events.

    A plain ASGI application; make one with ``tidings.asgi.handle()``. The
    native server serves the same object (``tidings.native.serve_native``).
    """

    def __init__(
        self,
        realtime: Realtime,
        *,
        middleware: Middleware | None,
        cors: CorsPolicy,
        settings: StreamSettings,
        presence: StreamPresence | None = None,
    ) -> None:
        if middleware is not None and not callable(middleware):
            raise TypeError(f"middleware: must be callable, got {middleware!r}")
        self._realtime = realtime
        self._middleware = middleware
        self._cors = cors
        self.settings = settings
        self._frames = FrameCache()
        self._pacer = Pacer(settings)
        # The taps' own tasks (closing a joined stream's feed, a tap's catch-up read).
        self._tap_tasks: set[asyncio.Task[None]] = set()
        self.taps = Taps(realtime, self._frames, self._tap_tasks)
        self._connections: set[Connection] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._shutting_down: asyncio.Task[None] | None = None
        self._served = 0
        self._presence = presence
        # Streams present somewhere, with their memberships (left on release).
        self._memberships: dict[Connection, list[Membership]] = {}

    # -- public -------------------------------------------------------------------

    @property
    def realtime(self) -> Realtime:
        return self._realtime

    @property
    def frames(self) -> FrameCache:
        """The event frames shared by this endpoint's streams."""
        return self._frames

    def stats(self) -> EndpointStats:
        """Counts of what is open now; call it from the event loop that serves."""
        return EndpointStats(
            connections=len(self._connections),
            subscriptions=sum(conn.subscriptions for conn in self._connections),
            backend_listeners=self._realtime.backend.live_listener_count(),
            tasks=len(asyncio.all_tasks()),
            served=self._served,
        )

    async def shutdown(self, grace: float | None = None) -> None:
        """Send every open stream a ``reconnect`` frame, close it, and refuse new ones.

        Returns once all streams have ended, or after ``grace`` seconds
        (default: the ``shutdown_timeout`` setting). Idempotent. Also run on
        the ASGI lifespan ``shutdown`` event when this app receives it.
        """
        self._closing = True
        if self._presence is not None:
            self._presence.abandon()  # streams released from now on are abandoned too (release)
        for connection in list(self._connections):
            connection.stop(Stop.SHUTDOWN)
        wait = self.settings.shutdown_timeout if grace is None else grace
        try:
            await asyncio.wait_for(self._idle.wait(), wait)
        except TimeoutError:
            logger.warning(
                "tidings.asgi: %d stream(s) still open %s s after shutdown", len(self._connections), wait
            )

    def _begin_shutdown(self) -> None:
        """``shutdown()`` in a task of its own, once (what a signal starts; see ``_signals``)."""
        if self._shutting_down is None:
            self._shutting_down = asyncio.get_running_loop().create_task(self.shutdown())

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            # A websocket scope: refuse the handshake (ASGI: close before accept).
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened = await self.open_stream(scope, receive, send)
        if opened is None:
            return
        if self.settings.close_on_signal:
            close_on_signal(self._begin_shutdown, asyncio.get_running_loop())
        connection, headers = opened
        try:
            # Streams get the plain ``send``: no wrapper call per write.
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            writer = SendWriter(send, self.settings.send_buffer)
            self.start_stream(connection, writer)
            await writer.carry(connection, receive)
        finally:
            await self.release(connection)

    async def open_stream(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[Connection, list[tuple[bytes, bytes]]] | None:
        """Check an HTTP request and open its stream: the stream and its response headers.

        None if the request was answered instead, through ``send`` (a refusal,
        a preflight, the middleware's response, 503 if the backend is down).
        Every subscription is live on return: the caller sends the headers
        (the browser client reports "connected" on them, and apps emit then),
        ``start_stream()``s it on its writer, and ``release()``s it once it ended.
        """
        origin = _header(scope, b"origin")
        cors_headers = self._cors.headers(origin)
        # Refusals carry CORS headers too, so a cross-origin page can read why.
        answer = _adding_headers(send, cors_headers)
        try:
            admitted = await self._admit(scope, receive, answer, origin)
        except BadRequest as exc:
            COUNTERS.refused(exc.status)
            await error_response(exc.status, exc.message)(scope, receive, answer)
            return None
        if admitted is None:
            return None
        connection, identities = admitted
        self._register(connection)
        try:
            opened = await self._open(connection, scope, receive, answer)
            if opened and identities:
                opened = await self._enter(connection, identities, scope, receive, answer)
        except BaseException:
            await self.release(connection)
            raise
        if not opened:
            await self.release(connection)
            return None
        return connection, [*_STREAM_HEADERS, *cors_headers]

    async def _admit(
        self, scope: Scope, receive: Receive, send: Send, origin: str | None
    ) -> tuple[Connection, list[tuple[str, Identity]]] | None:
        """Check a request; a Connection to stream and the presence it enters,
        or None if a response was sent already.

        Everything read from the request is dropped when this returns: an idle
        stream keeps only its Connection.
        """
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            await self._options(scope, receive, send, origin)
            return None
        if method != "GET":
            not_allowed = error_response(
                405,
                f"method {method} is not allowed; this endpoint serves GET (and OPTIONS)",
                headers={"allow": "GET, OPTIONS"},
            )
            COUNTERS.refused(405)
            await not_allowed(scope, receive, send)
            return None
        request = Request(scope)
        settings = self.settings
        channels = read_channels(request, self._realtime.limits.check_channel, settings.max_channels)
        positions = read_positions(request, channels, settings.max_channels)
        if self._middleware is not None:
            refusal = self._middleware(request, channels)
            if inspect.isawaitable(refusal):
                refusal = await refusal
            if refusal is not None:
                await refusal(scope, receive, _counting_refusal(send))
                return None
        if self._closing:
            raise BadRequest("the server is shutting down; reconnect in a moment", 503)
        if settings.max_connections is not None and len(self._connections) >= settings.max_connections:
            raise BadRequest(
                f"too many open streams: {len(self._connections)}; the limit is "
                f"{settings.max_connections} (max_connections)",
                503,
            )
        identities = [] if self._presence is None else await self._presence.identities(request, channels)
        connection = Connection(self._realtime, channels, positions, settings, self._frames, self._pacer)
        return connection, identities

    def _register(self, connection: Connection) -> None:
        # Counted from here on, with no await since _admit checked the limit.
        self._connections.add(connection)
        self._idle.clear()
        self._served += 1
        COUNTERS.streams_opened += 1
        COUNTERS.streams += 1
        COUNTERS.subscriptions += len(connection.channels)

    async def _open(self, connection: Connection, scope: Scope, receive: Receive, answer: Send) -> bool:
        """Open the connection's subscriptions; False if the backend is down (503 sent to ``answer``)."""
        try:
            await connection.open()
        except (BackendError, ClosedError) as exc:
            refusal = error_response(503, f"the event backend is unavailable: {exc}")
            COUNTERS.refused(503)
            await refusal(scope, receive, answer)
            return False
        return True

    def start_stream(self, connection: Connection, writer: StreamWriter) -> None:
        """Start an opened stream on the server's ``writer``; its channels may then share taps."""
        connection.start(writer)
        self.taps.add(connection)

    async def _enter(
        self,
        connection: Connection,
        identities: list[tuple[str, Identity]],
        scope: Scope,
        receive: Receive,
        answer: Send,
    ) -> bool:
        """Enter the stream into presence; False if refused (the response was sent to ``answer``)."""
        assert self._presence is not None
        try:
            self._memberships[connection] = await self._presence.enter(identities)
        except BadRequest as exc:
            COUNTERS.refused(exc.status)
            await error_response(exc.status, exc.message)(scope, receive, answer)
            return False
        except (BackendError, ClosedError) as exc:
            COUNTERS.refused(503)
            await error_response(503, f"the event backend is unavailable: {exc}")(scope, receive, answer)
            return False
        return True

    async def release(self, connection: Connection) -> None:
        """Close a stream's subscriptions and stop counting it (after it ended, or was never started)."""
        memberships = self._memberships.pop(connection, None)
        if memberships and self._presence is not None:
            if self._closing:
                # The client reconnects to another process (or this one, restarted)
                # within the TTL: no leave, no second join.
                self._presence.abandon(memberships)
            else:
                self._presence.release(memberships)
        await self.taps.leave(connection)
        await connection.close()
        if connection in self._connections:
            self._connections.remove(connection)
            COUNTERS.streams -= 1
            COUNTERS.subscriptions -= len(connection.channels)
        if not self._connections:
            self._idle.set()

    async def _options(self, scope: Scope, receive: Receive, send: Send, origin: str | None) -> None:
        requested_method = _header(scope, b"access-control-request-method")
        if origin is None or requested_method is None:
            await send({"type": "http.response.start", "status": 204, "headers": _ALLOW})
            await send({"type": "http.response.body", "body": b""})
            return
        if not self._cors.allows(origin):
            allowed = "none (same-origin only)" if not self._cors.enabled else "the cors_origins list"
            raise BadRequest(f"origin {origin!r} may not read this stream; allowed: {allowed}", 403)
        if requested_method != "GET":
            raise BadRequest(f"preflight for {requested_method}: only GET is served", 405)
        headers = self._cors.preflight_headers(_header(scope, b"access-control-request-headers"))
        await send({"type": "http.response.start", "status": 204, "headers": [*_ALLOW, *headers]})
        await send({"type": "http.response.body", "body": b""})


_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    # nginx would otherwise buffer the stream.
    (b"x-accel-buffering", b"no"),
]


def _adding_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """``send`` with ``headers`` added to the response start (``send`` itself if none)."""
    if not headers:
        return send

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return send_with_headers


def _counting_refusal(send: Send) -> Send:
    """``send`` that counts the middleware's refusal by its status (only refusals pay for this)."""

    async def counting(message: Message) -> None:
        if message["type"] == "http.response.start":
            COUNTERS.refused(int(message["status"]))
        await send(message)

    return counting


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
