"""The app of ``tidings serve`` and ``tidings demo``: a Starlette app with streams and hooks.

``ServerApp`` is an ordinary ``Starlette`` app: its routes are the SSE
endpoints (each a plain ASGI ``RealtimeEndpoint`` at its own exact path),
the JSON API, the demo's routes, and health, readiness and metrics
(``add_ops``); add your own, or mount it in yours.
Refusals of the routing itself (404, 405) are ``{"error": ...}`` JSON, like
the routes' own.

Under uvicorn the app is the whole ASGI app, lifespan included. Under the
native server (``_native_run``) the server serves ``streams`` itself and
sends every other request here; ``start()`` and ``stop()`` are called
directly instead of through the lifespan.

Shutdown under uvicorn: uvicorn waits for open responses before it sends
the lifespan ``shutdown`` event, and an SSE stream never ends by itself. So
at startup the app chains itself in front of the server's SIGINT/SIGTERM
handlers: on a signal every endpoint sends its streams a ``reconnect``
frame and closes them, and the server's own shutdown then finds nothing to
wait for.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from tidings._exceptions import StartupError
from tidings.asgi import RealtimeEndpoint
from tidings.asgi._signals import close_on_signal
from tidings.asgi._types import Message, Receive, Scope, Send
from tidings.ops import OpsApp
from tidings.web import HttpError

logger = logging.getLogger("tidings.server")

Hook = Callable[[], Awaitable[None]]

__all__ = ["ServerApp", "StartupError"]


class ServerApp(Starlette):
    """A Starlette app with SSE endpoints at exact paths, startup hooks and shutdown hooks."""

    def __init__(self) -> None:
        self._streams: dict[str, RealtimeEndpoint] = {}
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._stopping: asyncio.Task[None] | None = None
        self._stopped = False
        self._explained = False  # a StartupError was told to the operator already
        # Health, readiness and metrics (``add_ops``).
        self.ops: OpsApp | None = None
        # Keyword arguments of serve_endpoints when served natively (its request limits).
        self.native_options: dict[str, Any] = {}
        super().__init__(exception_handlers={HTTPException: _routing_error}, lifespan=self._lifespan)
        # Paths are exact: '/api/realtime/' is not found, not redirected.
        self.router.redirect_slashes = False

    @property
    def streams(self) -> dict[str, RealtimeEndpoint]:
        """The SSE endpoints by exact path."""
        return dict(self._streams)

    def add_stream(self, path: str, endpoint: RealtimeEndpoint) -> None:
        """Serve ``endpoint`` at exactly ``path``, before other routes (any method: it refuses itself)."""
        self.router.routes.insert(len(self._streams), Route(path, endpoint))
        self._streams[path] = endpoint

    def add_ops(self, ops: OpsApp) -> None:
        """Serve ``ops``'s health, readiness and metrics handlers, before every route but the streams."""
        self.router.routes[len(self._streams) : len(self._streams)] = ops.routes()
        self.ops = ops

    @property
    def shutting_down(self) -> bool:
        """True from the shutdown signal on (``/readyz`` then answers 503)."""
        return self._stopping is not None

    def begin_shutdown(self) -> None:
        """Start closing every stream (``reconnect`` frames) without waiting: the server is shutting down."""
        self._begin_shutdown()

    def add_router(self, router: Router) -> None:
        """Add ``router``'s routes (``JsonApi.router``, ``DemoSite.router``) after the others."""
        self.router.routes.extend(router.routes)

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run by ``stop()``, after every stream was closed; last added runs first."""
        self._shutdown.append(hook)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's routing, except that a stream goes straight to its endpoint.

        That shortcut is hand-written because it was measured: Starlette's
        two built-in middleware wrap ``send``, which costs a stream ~140 ns per
        frame (200 ns instead of 60 ns per ``send`` on a no-op server send,
        200k frames); on a fan-out every frame of every stream pays it. With
        middleware of yours added, streams go through it like any route.
        """
        if scope["type"] == "http" and not self.user_middleware:
            endpoint = self._streams.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})  # nothing here speaks WebSocket
            return
        if scope["type"] == "lifespan":
            send = self._quiet_startup_failure(send)
        await super().__call__(scope, receive, send)

    async def start(self) -> None:
        """Run the startup hooks; ``StartupError`` says in one line why the server cannot start."""
        for hook in self._startup:
            await hook()

    async def stop(self) -> None:
        """Close every stream (``reconnect`` frames), then run the shutdown hooks, last added first."""
        await self._begin_shutdown()
        if self._stopped:
            return
        self._stopped = True
        for hook in reversed(self._shutdown):
            try:
                await hook()
            except Exception:
                logger.exception("tidings: shutdown hook failed")

    async def close_streams(self) -> None:
        """Send every open stream a ``reconnect`` frame and wait (bounded) for them to end."""
        await asyncio.gather(*(endpoint.shutdown() for endpoint in self._streams.values()))

    @asynccontextmanager
    async def _lifespan(self, app: object) -> AsyncIterator[None]:
        try:
            await self.start()
        except StartupError as exc:
            # One line for the operator; uvicorn's own "startup failed" log
            # line and Starlette's traceback would only repeat it.
            print(f"error: {exc}", file=sys.stderr, flush=True)
            logging.getLogger("uvicorn.error").addFilter(_drop_startup_failed)
            self._explained = True
            raise
        # Before any stream opens (each endpoint chains itself too, on its first stream).
        close_on_signal(self._begin_shutdown, asyncio.get_running_loop())
        try:
            yield
        finally:
            await self.stop()

    def _quiet_startup_failure(self, send: Send) -> Send:
        """``send`` without the traceback Starlette puts in a startup failure already explained."""

        async def quiet(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self._explained:
                message = {**message, "message": ""}
            await send(message)

        return quiet

    def _begin_shutdown(self) -> asyncio.Task[None]:
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self.close_streams())
        return self._stopping


async def _routing_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 (and any ``HTTPException``) as ``{"error": ...}``, in our words."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    path, method = request.scope["path"], request.method
    if exc.status_code == 404:
        return HttpError(404, f"no route for {path}").response()
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = ", ".join(sorted(name.strip() for name in headers.pop("Allow", "").split(",") if name))
        headers["allow"] = allowed
        return HttpError(405, f"{method} is not allowed here; use {allowed}", headers=headers).response()
    return HttpError(exc.status_code, exc.detail, headers=headers).response()


def _drop_startup_failed(record: logging.LogRecord) -> bool:
    return "startup failed" not in record.getMessage()
