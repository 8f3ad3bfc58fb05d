"""The HTTP side of the native server: one ``asyncio.Protocol`` per connection, and what it routes to.

A connection carries HTTP/1.1 requests one at a time (parsed by httptools,
a fresh parser and ``Incoming`` per request): the next request is parsed
only once the previous one is answered, so no later request can touch an
earlier one. Bytes that arrive meanwhile (a pipelined request) are held,
bounded, and parsed after the answer; when they came in the same read as
the end of the previous request, where that request ended is found by
parsing its bytes again (``_request_end``). What a client may send is
bounded (``HttpLimits``): the head's size (431, or 414 for the request
line), the time until the whole request has arrived (408, or a silent close
for a connection that asked nothing), the body's size (413), the idle time
between requests and the number of requests on one connection. Every
malformed request gets a 4xx and ends the connection; every closing answer
is followed by a FIN, and whatever the client still sends is read and
dropped for a while, so the client gets the answer instead of a reset
connection.

A body is read whole before the request is served; one too large is refused
as soon as that is known (from ``Content-Length``, or while it arrives), and
the rest of it is read and dropped.

Then the path decides. On a stream path the endpoint checks the request and
opens its stream (``RealtimeEndpoint.open_stream``), and the connection
becomes that stream's ``TransportWriter``; any other path goes to the
``fallback`` ASGI app (404 without one), whose response is buffered and sent
whole; the connection is kept alive for the next request (HTTP/1.1 unless
the client sent ``Connection: close``, HTTP/1.0 with
``Connection: keep-alive``). Refusals on a stream path are sent the same way
but with ``Connection: close``, and a stream is the connection's last
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from itertools import chain
from typing import Any, cast

try:
    import httptools
except ImportError as exc:  # tests/asgi/test_without_httptools.py
    raise ImportError(
        "the native server (tidings.native.serve_native) needs httptools, which comes with the "
        f"server extra: pip install 'tidings[server]' ({exc})"
    ) from exc

from tidings._checks import positive_int, positive_seconds
from tidings._exceptions import InvalidArgumentError
from tidings.asgi._connection import Connection
from tidings.asgi._endpoint import RealtimeEndpoint
from tidings.asgi._responses import error_response
from tidings.asgi._types import ASGIApp, Message, Scope

from ._deadline import Deadline
from ._writer import TransportWriter

logger = logging.getLogger("tidings.asgi")

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_HEADER_SIZE = 64 * 1024
DEFAULT_REQUEST_TIMEOUT = 15.0
DEFAULT_MAX_KEEPALIVE_REQUESTS = 1000
DEFAULT_KEEPALIVE_TIMEOUT = 5.0
# How long the rest of a refused request body is read and dropped, at most.
LINGER_SECONDS = 5.0
# httptools.parse_url keeps offsets in 16 bits.
_MAX_PARSED_URL = 65535
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much of a request the native server reads, and for how long; see ``serve_native``."""

    max_body: int = DEFAULT_MAX_BODY
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_keepalive_requests: int = DEFAULT_MAX_KEEPALIVE_REQUESTS
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT

    def __post_init__(self) -> None:
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 0:
            raise InvalidArgumentError("max_body", f"must be a number of bytes >= 0, got {self.max_body!r}")
        positive_int("max_header_size", self.max_header_size)
        positive_seconds("request_timeout", self.request_timeout)
        positive_int("max_keepalive_requests", self.max_keepalive_requests)
        positive_seconds("keepalive_timeout", self.keepalive_timeout)


# Built once: HTTPStatus(status).phrase costs ~0.3 us per answer (measured), a dict lookup ~0.03 us.
_STATUS_LINES = {int(s): b"HTTP/1.1 %d %s\r\n" % (s, s.phrase.encode("latin-1")) for s in HTTPStatus}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return b"HTTP/1.1 %d \r\n" % status if line is None else line


def head(status: int, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """A response's status line and headers, with the blank line that ends them."""
    lines = [_status_line(status)]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class Routes:
    """What one native server serves: stream endpoints by exact path, the fallback app, the limits.

    It also knows the connections that are not streams (yet), so a shutdown
    can let requests in progress finish before it cuts them.
    """

    def __init__(
        self,
        endpoints: Mapping[str, RealtimeEndpoint],
        *,
        any_path: RealtimeEndpoint | None,
        fallback: ASGIApp | None,
        limits: HttpLimits,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.any_path = any_path
        self.fallback = fallback
        self.limits = limits
        self.tasks: set[asyncio.Task[None]] = set()
        self.pending: set[HttpProtocol] = set()
        # Connections that became streams, until they close.
        self.streams: set[HttpProtocol] = set()
        self.closing = False
        self._settled: asyncio.Event | None = None

    def endpoint_at(self, path: str) -> RealtimeEndpoint | None:
        return self.endpoints.get(path, self.any_path)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def release(self, endpoint: RealtimeEndpoint, stream: Connection) -> None:
        """A stream's connection closed: its endpoint takes it off its taps and closes its subscriptions."""
        await endpoint.release(stream)

    def abort_streams(self) -> None:
        for protocol in list(self.streams):
            protocol.transport.abort()

    def not_found(self, path: str) -> str:
        paths = sorted({known.rstrip("/") or "/" for known in self.endpoints})
        where = (
            f"the stream is at {paths[0]}" if len(paths) == 1 else f"the streams are at {', '.join(paths)}"
        )
        return f"no endpoint at {path}; {where}"

    def settled(self, protocol: HttpProtocol) -> None:
        """``protocol`` closed, or became a stream (its endpoint counts it from then on)."""
        self.pending.discard(protocol)
        if not self.pending and self._settled is not None:
            self._settled.set()

    async def finish(self, grace: float) -> None:
        """Close idle connections; give requests in progress ``grace`` seconds, then cut them."""
        self.closing = True
        for protocol in list(self.pending):
            if protocol.idle:
                protocol.transport.close()
        if self.pending:
            self._settled = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), grace)
        for protocol in list(self.pending):
            protocol.transport.abort()


class _Refusal(Exception):
    """Raised in a parser callback: parse no further, answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Incoming:
    """One request while it arrives: what the parser has handed over so far.

    Once it is ``complete``, the parser's callbacks for whatever follows (a
    pipelined request, garbage) find it so and drop what they are given
    (``followed`` records that something did); the next request gets a new
    ``Incoming`` and a new parser once this one is answered.
    """

    __slots__ = (
        "body",
        "body_size",
        "complete",
        "followed",
        "head_done",
        "head_size",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query",
        "refused",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.method = "GET"
        self.version = "1.1"
        self.path = b"/"
        self.query = b""
        # Bytes received while the head was still incomplete.
        self.head_size = 0
        self.head_done = False
        self.body: list[bytes] | None = None
        self.body_size = 0
        # Answered 413: the rest of the body is read and dropped.
        self.refused = False
        self.complete = False
        # The client allows another request on this connection after this one.
        self.keep_alive = False
        # The read that completed it held the start of something more.
        self.followed = False


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: whole answers, one request at a time, until a stream or a close."""

    __slots__ = (
        "_answered",
        "_body",
        "_client",
        "_deadline",
        "_disconnected",
        "_endpoint",
        "_head_only",
        "_held",
        "_http_10",
        "_kept",
        "_lingering",
        "_parser",
        "_paused",
        "_raw",
        "_reply",
        "_request",
        "_response",
        "_reusable",
        "_served",
        "closed",
        "routes",
        "stream",
        "transport",
        "writer",
    )

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        # Once the connection is a stream: the stream, its endpoint, and the writer it writes to.
        self.stream: Connection | None = None
        self._endpoint: RealtimeEndpoint | None = None
        self.writer: TransportWriter | None = None
        self.closed = False
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        # None while a request is served, and for good once it became a stream or was refused.
        self._request: Incoming | None = Incoming()
        # What the current parser was fed, to find where its request ended when more followed it.
        self._raw: list[bytes] = []
        # Bytes received while a request is served, parsed once it is answered (None: dropped).
        self._held: bytearray | None = None
        self._paused = False
        # The request's deadline, or the idle time before the next one; after a 413, the drain.
        self._deadline: Deadline = None  # type: ignore[assignment]
        # The peer's (host, port): asked once, uvloop asks the socket each time.
        self._client: tuple[str, int] | None = None
        self._served = 0
        # The request body until the app has received it.
        self._body: bytes | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._response: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._reply: list[bytes] | None = None
        self._head_only = False
        self._http_10 = False
        # The request being served may leave the connection open; its answer is out; and did.
        self._reusable = False
        self._answered = False
        self._kept = False
        self._lingering = False

    @property
    def idle(self) -> bool:
        """Closing loses nothing: nothing of a request received yet, or its answer is out."""
        return self._lingering or (self._request is not None and self._request.head_size == 0)

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.routes.pending.add(self)
        peer = transport.get_extra_info("peername")
        self._client = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._deadline = Deadline(asyncio.get_running_loop())
        self._deadline.set(self.routes.limits.request_timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        request, parser = self._request, self._parser
        if request is None or request.complete or parser is None:
            self._hold(data)
            return
        if not request.head_done:
            if request.head_size == 0 and self._served:
                # The idle wait is over: from here the request has request_timeout to arrive.
                self._deadline.set(self.routes.limits.request_timeout, self._timed_out)
            request.head_size += len(data)
        self._raw.append(data)
        refusal: _Refusal | None = None
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__ if isinstance(exc.__context__, _Refusal) else None
            if refusal is None:
                logger.error("tidings.asgi: reading a request failed", exc_info=exc.__context__)
                refusal = _Refusal(500, "internal server error")
        except httptools.HttpParserUpgrade:
            refusal = _Refusal(400, "protocol upgrades are not served here")
        except httptools.HttpParserError as exc:
            refusal = _Refusal(400, f"malformed HTTP request: {exc}")
        if request.complete:
            # Whatever followed it in ``data`` (and any error in that) is the next request's.
            rest = b""
            if (request.followed or refusal is not None) and not request.refused:
                rest = data[_request_end(self._raw) :]
            self._begin(request, rest)
        elif request.refused:
            if refusal is not None:
                self._close()  # the 413 is out; what follows is not worth reading
        elif refusal is not None:
            self._refuse(refusal.status, refusal.message)
        elif not request.head_done and request.head_size > self.routes.limits.max_header_size:
            refusal = self._head_too_large(request)
            self._refuse(refusal.status, refusal.message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._parser = None
        self._request = None
        self._held = None
        self._raw = []
        self._deadline.close()
        if self.stream is not None and self._endpoint is not None and self.writer is not None:
            # The stream stops at once; its subscriptions are freed in the background.
            self.writer.writable = False
            self.stream.lost()
            self.routes.streams.discard(self)
            self.routes.spawn(self.routes.release(self._endpoint, self.stream))
            self.stream = None
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        self.routes.settled(self)

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.writable = False

    def resume_writing(self) -> None:
        if self.writer is not None and self.stream is not None:
            self.writer.writable = True
            self.stream.resumed()

    # -- httptools callbacks: each ignores what comes after the request ----------------

    def on_message_begin(self) -> None:
        request = self._request
        if request is not None and request.complete:
            request.followed = True  # a pipelined request starts in the same read

    def on_url(self, url: bytes) -> None:
        request = self._request
        if request is not None and not request.complete:
            request.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._request
        if request is not None and not request.complete:
            request.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        request, parser = self._request, self._parser
        if request is None or request.complete or parser is None:
            return
        request.head_done = True
        method = parser.get_method()
        # The head as sent: request line, header lines, the blank line.
        headers = request.headers
        size = len(method) + len(request.url) + 14 + sum(map(len, chain.from_iterable(headers)))
        size += 4 * len(headers)
        if size > self.routes.limits.max_header_size:
            raise self._head_too_large(request)
        if parser.should_upgrade():
            raise _Refusal(400, "protocol upgrades are not served here")
        try:
            url = httptools.parse_url(request.url)
        except httptools.HttpParserInvalidURLError:
            if len(request.url) > _MAX_PARSED_URL:
                raise _Refusal(
                    414, f"the URL is {len(request.url)} bytes; this server reads at most {_MAX_PARSED_URL}"
                ) from None
            raise _Refusal(400, f"malformed HTTP request: invalid URL {request.url[:80]!r}") from None
        request.method = method.decode("ascii")
        request.version = parser.get_http_version()
        # HTTP/1.1 unless "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
        request.keep_alive = parser.should_keep_alive()
        request.path, request.query, request.url = url.path, url.query or b"", b""
        limit = self.routes.limits.max_body
        declared = _header(request.headers, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._refuse_body(request, f"request body is {int(declared)} bytes; the limit is {limit}")
        elif (_header(request.headers, b"expect") or b"").lower() == b"100-continue":
            # curl waits a second for this before it sends a body over 1 KiB.
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is None or request.complete or request.refused:
            return
        request.body_size += len(body)
        limit = self.routes.limits.max_body
        if request.body_size > limit:
            self._refuse_body(request, f"request body is over the limit of {limit} bytes")
            return
        if request.body is None:
            request.body = []
        request.body.append(body)

    def on_message_complete(self) -> None:
        request = self._request
        if request is not None:
            request.complete = True  # served (or closed) once feed_data returns

    # -- the request -----------------------------------------------------------------

    def _begin(self, request: Incoming, rest: bytes) -> None:
        self._parser = None  # nothing more is parsed until this request is answered
        self._raw = []
        if request.refused:
            self._close()  # answered already, and the whole body was read
            return
        self._held = bytearray(rest)
        self._deadline.clear()
        task = asyncio.get_running_loop().create_task(self._serve(request))
        self.routes.tasks.add(task)
        task.add_done_callback(self.routes.tasks.discard)

    def _hold(self, data: bytes) -> None:
        """Keep what arrives while a request is served for after its answer (bounded: then stop reading)."""
        held = self._held
        if held is None:
            return  # a stream, or closing: what the client sends is dropped
        held += data
        if len(held) > self.routes.limits.max_header_size and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    async def _serve(self, request: Incoming) -> None:
        if self.closed:
            return  # the client left already
        # A stream keeps none of its request: only the scope (gone once admitted) holds it.
        self._request = None
        self._served += 1
        self._body = b"".join(request.body) if request.body else b""
        path = request.path.decode("latin-1")
        self._head_only = request.method == "HEAD"
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": request.version,
            "method": request.method,
            "scheme": "http",
            "path": path,
            "raw_path": request.path,
            "root_path": "",
            "query_string": request.query,
            "headers": request.headers,
            "client": self._client,
        }
        endpoint = self.routes.endpoint_at(path)
        app = self.routes.fallback
        # Only the fallback's answers keep the connection: a stream path's refusals close it.
        limit = self.routes.limits.max_keepalive_requests
        self._reusable = endpoint is None and request.keep_alive and self._served < limit
        self._http_10 = request.version == "1.0"
        del request
        if endpoint is None and app is None:
            self._refuse(404, self.routes.not_found(path))
            return
        try:
            if endpoint is not None:
                await self._open_stream(endpoint, scope)
            elif app is not None:
                await app(scope, self._receive, self._send)
        except Exception:
            logger.exception("tidings.asgi: serving a request failed")
            if self._answered:
                self._close()  # the answer is out: nothing more can be said on this connection
            else:
                self._refuse(500, "internal server error")
            return
        if self.stream is not None:
            self.routes.settled(self)
        elif self._kept:
            self._next()
        else:
            # Answered (then closing already), or the app answered nothing or only part:
            # do not leave the client hanging.
            self._close()

    def _next(self) -> None:
        """The answer is out and the connection stays: wait for the next request, or parse what came."""
        if self.closed or self.transport.is_closing():
            return
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)  # the request is over for whatever still listens
        self._disconnected = None
        self._body = None
        self._response = self._reply = None
        self._reusable = self._answered = self._kept = False
        self._request = Incoming()
        self._parser = httptools.HttpRequestParser(self)
        held, self._held = self._held or b"", None
        self._deadline.set(self.routes.limits.keepalive_timeout, self._timed_out)
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
        if held:
            self.data_received(bytes(held))

    async def _open_stream(self, endpoint: RealtimeEndpoint, scope: Scope) -> None:
        """The request on a stream path: it becomes a stream, or was answered (a refusal)."""
        opened = await endpoint.open_stream(scope, self._receive, self._send)
        if opened is None:
            return
        stream, headers = opened
        if self.closed:
            await endpoint.release(stream)  # the client left while its subscriptions opened
            return
        # Nothing after a stream is read: its connection serves no other request.
        self._held = None
        if self._paused:
            self._paused = False
            self.transport.resume_reading()  # reading tells when the client leaves
        self.stream, self._endpoint = stream, endpoint
        self.writer = TransportWriter(
            self.transport, head(200, [*headers, (b"transfer-encoding", b"chunked")])
        )
        self.routes.streams.add(self)
        endpoint.start_stream(stream, self.writer)

    async def _receive(self) -> Message:
        body = self._body
        if body is not None:
            self._body = None
            return {"type": "http.request", "body": body, "more_body": False}
        # Asked again: the app waits for the client to leave (or the request to end).
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
            if self.closed:
                self._disconnected.set_result(None)
        await self._disconnected
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        """Whole responses only (refusals, preflights, the fallback's): buffered, then written whole.

        The connection then waits for the next request if the request allows it
        (``_reusable``), the app did not answer ``Connection: close`` and the
        server is not shutting down; otherwise it closes.
        """
        if message["type"] == "http.response.start":
            self._response = (int(message["status"]), list(message.get("headers", ())))
            return
        if message["type"] != "http.response.body" or self._response is None or self._answered:
            return
        if self._reply is None:
            self._reply = []
        self._reply.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, headers = self._response
        body = b"".join(self._reply)
        self._reply = None
        self._answered = True
        self._kept = self._reusable and not self.routes.closing and not _asks_to_close(headers)
        # HTTP/1.1 connections persist by default; HTTP/1.0 ones must be told.
        keep = (b"keep-alive" if self._http_10 else b"") if self._kept else None
        self._write(_whole(status, headers, body, head_only=self._head_only, keep=keep))
        if not self._kept:
            self._close()

    # -- refusals and limits ---------------------------------------------------------

    def _head_too_large(self, request: Incoming) -> _Refusal:
        limit = self.routes.limits.max_header_size
        if len(request.url) + 16 > limit:
            return _Refusal(
                414, f"the URL (request line) is over the limit of {limit} bytes (max_header_size)"
            )
        return _Refusal(431, f"the request head is over the limit of {limit} bytes (max_header_size)")

    def _timed_out(self) -> None:
        request = self._request
        if request is None or request.complete:
            return
        if request.head_size == 0:
            self._close()  # it asked nothing (more): there is nothing to answer
        else:
            timeout = self.routes.limits.request_timeout
            self._refuse(408, f"the request did not arrive within {timeout:g} s (request_timeout)")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` at once and close: nothing more of this connection is read."""
        self._deadline.clear()
        self._parser = None
        self._request = None
        self._write(_error(status, message))
        self._close()

    def _refuse_body(self, request: Incoming, message: str) -> None:
        """Answer 413, then read and drop the rest of the body (bounded in time) before closing."""
        request.refused = True
        request.body = None
        self._write(_error(413, message))
        self._deadline.set(LINGER_SECONDS, self.transport.close)

    def _write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        """Close once the answer is out, without losing it to what the client still sends.

        Closing a socket with unread input makes the kernel send a reset,
        which can destroy the answer before the client reads it (a refused
        request still arriving, a pipelined one). So the answer goes out with
        a FIN, what comes after is read and dropped (``_request`` is None),
        and the socket closes when the client closes its side, or after
        ``LINGER_SECONDS``, or at once when the server shuts down.
        """
        transport = self.transport
        if self.closed or self._lingering or transport.is_closing():
            return  # closed, or closing: the linger timer ends it
        if self.routes.closing or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        self._request = None
        self._parser = None
        self._held = None
        if self._paused:
            self._paused = False
            transport.resume_reading()  # what follows is read and dropped
        transport.write_eof()
        self._deadline.set(LINGER_SECONDS, transport.close)


def _whole(
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    *,
    head_only: bool = False,
    keep: bytes | None = None,
) -> bytes:
    """A whole response (``head_only``: the answer to a HEAD request).

    ``keep`` None closes the connection (``Connection: close``); otherwise it is
    the ``Connection`` header that keeps it (empty: none, HTTP/1.1's default).
    """
    lines = [_status_line(status)]
    sized = False
    for name, value in headers:
        name = name.lower()
        if name == b"connection":
            continue
        sized = sized or name == b"content-length"
        lines += (name, b": ", value, b"\r\n")
    if not sized and status >= 200 and status not in (204, 304):
        lines.append(b"content-length: %d\r\n" % len(body))
    if keep is None:
        lines.append(b"connection: close\r\n")
    elif keep:
        lines += (b"connection: ", keep, b"\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)


def _asks_to_close(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"connection" and value.lower() == b"close" for name, value in headers)


class _Probe:
    """A parser's protocol that only notes where the first request ends (``_request_end``)."""

    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended = False

    def on_message_complete(self) -> None:
        self.ended = True
        raise _Refusal(0, "stop")  # parse no further


def _ends_within(before: Sequence[bytes], last: bytes) -> bool:
    probe = _Probe()
    parser = httptools.HttpRequestParser(probe)
    with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
        for piece in before:
            parser.feed_data(piece)
        parser.feed_data(last)
    return probe.ended


def _request_end(raw: Sequence[bytes]) -> int:
    """Where, in the last of ``raw`` (what one parser was fed), its first request ended.

    httptools tells no offsets, so a pipelined request read together with the
    end of the one before it is split off by parsing again: a binary search
    for the shortest prefix of the last read that completes the request. This
    runs only when something followed a request in the same read.
    """
    before, last = raw[:-1], raw[-1]
    low, high = 0, len(last)  # the request ends within last[:high]
    while low < high:
        middle = (low + high) // 2
        if _ends_within(before, last[:middle]):
            high = middle
        else:
            low = middle + 1
    return high


def _error(status: int, message: str) -> bytes:
    """A refusal: the endpoint's ``{"error": ...}`` response, as bytes."""
    response = error_response(status, message)
    return _whole(status, response.raw_headers(), response.body)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
