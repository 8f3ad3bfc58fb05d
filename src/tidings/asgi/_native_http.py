"""The HTTP side of the native server: one ``asyncio.Protocol`` per connection, and what it routes to.

A connection carries one HTTP/1.1 request (parsed by httptools). Its body is
read whole, up to ``max_body`` bytes, before the request is served; a larger
body is refused with 413 as soon as that is known (from ``Content-Length``,
or while it arrives), and the rest of it is read and dropped, so the client
gets the answer instead of a reset connection.

Then the path decides. A stream path hands the connection to its
``NativeEndpoint`` and it becomes a stream; any other path goes to the
``fallback`` ASGI app (404 without one), whose response is buffered and sent
whole with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

try:
    import httptools
except ImportError as exc:  # tests/asgi/test_without_httptools.py
    raise ImportError(
        "the native server (tidings.asgi.serve_native) needs httptools, which comes with the "
        f"server extra: pip install 'tidings[server]' ({exc})"
    ) from exc

from ._responses import error_response
from ._types import ASGIApp, Message, Scope

if TYPE_CHECKING:
    from ._native import NativeConnection, NativeEndpoint

logger = logging.getLogger("tidings.asgi")

PROTOCOL_KEY = "tidings.native"
DEFAULT_MAX_BODY = 1024 * 1024
# How long the rest of a refused request body is read and dropped, at most.
LINGER_SECONDS = 5.0
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def head(status: int, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """A response's status line and headers, with the blank line that ends them."""
    try:
        reason = HTTPStatus(status).phrase.encode("latin-1")
    except ValueError:
        reason = b""
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Routes:
    """What one native server serves: stream endpoints by exact path, the fallback app, the body limit.

    It also knows the connections that are not streams (yet), so a shutdown
    can let requests in progress finish before it cuts them.
    """

    def __init__(
        self,
        endpoints: Mapping[str, NativeEndpoint],
        *,
        any_path: NativeEndpoint | None,
        fallback: ASGIApp | None,
        max_body: int,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.any_path = any_path
        self.fallback = fallback
        self.max_body = max_body
        self.tasks: set[asyncio.Task[None]] = set()
        self.pending: set[HttpProtocol] = set()
        self._settled: asyncio.Event | None = None

    def endpoint_at(self, path: str) -> NativeEndpoint | None:
        return self.endpoints.get(path, self.any_path)

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
        for protocol in list(self.pending):
            if protocol.idle:
                protocol.transport.close()
        if self.pending:
            self._settled = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), grace)
        for protocol in list(self.pending):
            protocol.transport.abort()


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: one request, then a stream, or a whole response and close."""

    __slots__ = (
        "_began",
        "_body",
        "_body_size",
        "_disconnected",
        "_head_only",
        "_headers",
        "_linger",
        "_parser",
        "_refused",
        "_reply",
        "_response",
        "_started",
        "_url",
        "closed",
        "routes",
        "stream",
        "transport",
    )

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.stream: NativeConnection | None = None
        self.closed = False
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        # Allocated when needed: a stream keeps this object for its whole life.
        self._body: list[bytes] | None = None
        self._body_size = 0
        self._began = False
        self._started = False
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._response: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._reply: list[bytes] | None = None
        self._head_only = False

    @property
    def idle(self) -> bool:
        """Nothing of a request received yet: closing loses nothing."""
        return not self._began

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.routes.pending.add(self)

    def data_received(self, data: bytes) -> None:
        if self._started or self._parser is None:
            return  # one request per connection; a stream reads nothing more
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not served here")
        except httptools.HttpParserError as exc:
            if self._refused:
                self.transport.close()  # the answer is out; what follows is not worth reading
            else:
                self._refuse(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._parser = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self.stream is not None:
            self.stream.lost()
            self.stream = None
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        self.routes.settled(self)

    def pause_writing(self) -> None:
        if self.stream is not None:
            self.stream.pause()

    def resume_writing(self) -> None:
        if self.stream is not None:
            self.stream.resume()

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._began = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        limit = self.routes.max_body
        declared = _header(self._headers, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._refuse_body(f"request body is {int(declared)} bytes; the limit is {limit}")
        elif (_header(self._headers, b"expect") or b"").lower() == b"100-continue":
            # curl waits a second for this before it sends a body over 1 KiB.
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_size += len(body)
        if self._body_size > self.routes.max_body:
            self._refuse_body(f"request body is over the limit of {self.routes.max_body} bytes")
            return
        if self._body is None:
            self._body = []
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._refused:
            self.transport.close()  # answered already, and the whole body was read
            return
        self._started = True
        task = asyncio.get_running_loop().create_task(self._serve())
        self.routes.tasks.add(task)
        task.add_done_callback(self.routes.tasks.discard)

    # -- the request -----------------------------------------------------------------

    async def _serve(self) -> None:
        parser = self._parser
        if parser is None:
            return  # the client left already, or the request was refused
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
            PROTOCOL_KEY: self,
        }
        app: ASGIApp | None = self.routes.endpoint_at(path)
        if app is None:
            app = self.routes.fallback
        if app is None:
            self._refuse(404, self.routes.not_found(path))
            return
        try:
            await app(scope, self._receive, self._send)
        except Exception:
            logger.exception("tidings.asgi: serving a request failed")
            self._refuse(500, "internal server error")
            return
        if self.stream is not None:
            self.routes.settled(self)
        elif not self.closed:
            # The app answered nothing (or only part): do not leave the client hanging.
            self.transport.close()

    async def _receive(self) -> Message:
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
            if self.closed:
                self._disconnected.set_result(None)
            body = b"".join(self._body) if self._body else b""
            self._body = None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._disconnected
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        """Whole responses only (refusals, preflights, the fallback's): buffered, then written and closed."""
        if message["type"] == "http.response.start":
            self._response = (int(message["status"]), list(message.get("headers", ())))
            return
        if message["type"] != "http.response.body" or self._response is None:
            return
        if self._reply is None:
            self._reply = []
        self._reply.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, headers = self._response
        body = b"".join(self._reply)
        self._reply = None
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
        self._write(head(status, headers) + body)
        self._close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` at once and close: nothing more of this connection is read."""
        self._started = True
        self._parser = None
        self._write(_error(status, message))
        self._close()

    def _refuse_body(self, message: str) -> None:
        """Answer 413, then read and drop the rest of the body (bounded in time) before closing."""
        self._refused = True
        self._body = None
        self._write(_error(413, message))
        self._linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._close)

    def _write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if not self.closed:
            self.transport.close()


def _error(status: int, message: str) -> bytes:
    response = error_response(status, message)
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
    raw += [(b"content-length", b"%d" % len(response.body)), (b"connection", b"close")]
    return head(status, raw) + response.body


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
