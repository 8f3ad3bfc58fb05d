"""The native server: a listening socket serving ``RealtimeEndpoint``s from an ``asyncio.Protocol``.

::

    server = await serve_native(realtime, "0.0.0.0", 8000, middleware=authorize)
    await server.serve_forever()

Requests are checked exactly as by ``handle()`` -- it is the same
``RealtimeEndpoint`` (parsing, limits, middleware, CORS, refusals), and the
same ``Connection`` writes each stream (frames, cursors, pings,
``max_duration``, the ``reconnect`` frame). Only the writer differs: a
``TransportWriter`` hands a stream's bytes straight to its socket, so a
stream has no task of its own. Streams share a channel's feed as under
``handle()`` (``tidings.asgi._tap``).

The HTTP side -- parsing, request bodies, routing a path to its endpoint or
to the fallback app -- is ``_http``; this module holds the server and how
to start it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tidings._exceptions import InvalidArgumentError
from tidings.asgi._endpoint import EndpointStats, RealtimeEndpoint
from tidings.asgi._handle import handle
from tidings.asgi._types import ASGIApp

from ._http import (
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_MAX_KEEPALIVE_REQUESTS,
    DEFAULT_REQUEST_TIMEOUT,
    HttpLimits,
    HttpProtocol,
    Routes,
)

if TYPE_CHECKING:
    from tidings._realtime import Realtime


@dataclass(frozen=True, slots=True)
class NativeStats(EndpointStats):
    """``EndpointStats`` of the server's first endpoint, and the connections that are not streams.

    http_connections: connections open that are not (yet) streams: idle ones,
    requests being read, requests being answered.
    """

    http_connections: int


class NativeServer:
    """A listening socket serving ``RealtimeEndpoint``s; make it with ``serve_native()``.

    ``endpoint`` is the first (usually the only) endpoint, ``endpoints`` maps
    each stream path to its endpoint.
    """

    def __init__(self, routes: Routes, server: asyncio.Server) -> None:
        self._routes = routes
        self.server = server
        self.endpoints: dict[str, RealtimeEndpoint] = dict(routes.endpoints)
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
        # Cut every stream still open (clients that did not read their reconnect frame).
        self._routes.abort_streams()
        await self.server.wait_closed()

    async def __aenter__(self) -> NativeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()


async def serve_endpoints(
    endpoints: Mapping[str, RealtimeEndpoint],
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    any_path: RealtimeEndpoint | None = None,
    fallback: ASGIApp | None = None,
    backlog: int = 2048,
    max_body: int = DEFAULT_MAX_BODY,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_keepalive_requests: int = DEFAULT_MAX_KEEPALIVE_REQUESTS,
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
) -> NativeServer:
    """Serve each endpoint at its exact path (``any_path``: at every other path), the rest by ``fallback``.

    Listens on ``host:port`` (default 127.0.0.1:8000), or on ``sock``, a
    socket already bound and listening (one a parent process handed down).
    The limits are ``serve_native``'s.
    """
    if not endpoints and any_path is None:
        raise InvalidArgumentError("endpoints", "give at least one stream endpoint")
    limits = HttpLimits(
        max_body=max_body,
        max_header_size=max_header_size,
        request_timeout=request_timeout,
        max_keepalive_requests=max_keepalive_requests,
        keepalive_timeout=keepalive_timeout,
    )
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
    max_keepalive_requests: int = DEFAULT_MAX_KEEPALIVE_REQUESTS,
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
    **options: Any,
) -> NativeServer:
    """Listen on ``host:port`` and serve ``realtime``'s channels at ``path`` (None: any path).

    ``host`` and ``port`` default to 127.0.0.1 and 8000; ``port=0`` picks a
    free port (see ``NativeServer.port``). Or pass ``sock``, a socket already
    bound and listening (one bound before dropping privileges, or inherited
    by worker processes that share it).

    Other paths get 404, or go to ``fallback``: an ASGI app for small whole
    responses (health checks, metrics, a small JSON API; its responses are
    buffered, never streamed). A request body is read whole before the app
    runs; one over ``max_body`` bytes (default 1 MiB) is refused with 413.

    The fallback's answers keep the connection open for the next request
    (HTTP/1.1 unless the client sends ``Connection: close``; HTTP/1.0 only
    with ``Connection: keep-alive``). Requests are served one at a time, in
    order: a pipelined request is parsed only once the one before it is
    answered. A stream is a connection's last request, and refusals (a
    stream path's, a malformed request's) close it. What a client may send
    is bounded:

    max_header_size:
        bytes of the request line and header lines together (default
        64 KiB); more gets 431, or 414 when the request line alone is too
        long. A URL is at most 65535 bytes whatever this says (httptools).
    request_timeout:
        seconds from connecting until the whole request (head and body) has
        arrived (default 15); then the connection is closed, with a 408 if
        part of a request came. On a kept-alive connection it counts from
        the first byte of each later request. Streams and the fallback's
        answers are not limited by it.
    max_keepalive_requests:
        requests served on one connection (default 1000); the last one's
        answer says ``Connection: close``.
    keepalive_timeout:
        seconds a kept-alive connection may wait for its next request
        (default 5); then it is closed without a word. A shutdown closes
        waiting connections at once.

    A malformed request gets 400 and a close.

    ``options`` are those of ``handle()`` (middleware, cors_origins,
    ping_interval, max_duration, ...), with the same protocol and refusals;
    see its docstring. Returns once listening; ``await server.serve_forever()``
    to block, and ``await server.shutdown()`` to send every stream
    ``reconnect`` and stop.
    """
    endpoint = handle(realtime, **options)
    streams: dict[str, RealtimeEndpoint] = {}
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
        max_keepalive_requests=max_keepalive_requests,
        keepalive_timeout=keepalive_timeout,
    )
