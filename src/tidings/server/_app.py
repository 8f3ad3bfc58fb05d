"""The app of ``tidings serve`` and ``tidings demo``: streams, JSON API, extra routes, hooks.

Routing is by exact path: each SSE endpoint sits at its own path, the JSON
API and the demo's routes are ``Router`` tables, anything else is 404.

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
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from tidings.asgi import RealtimeEndpoint

from ._http import Receive, Router, Scope, Send, not_found

logger = logging.getLogger("tidings.server")

Hook = Callable[[], Awaitable[None]]


class StartupError(Exception):
    """A startup hook failed in a way worth one line to the operator (backend unreachable...)."""


class ServerApp:
    """Exact-path SSE endpoints plus route tables, with startup/shutdown hooks."""

    def __init__(self) -> None:
        self._streams: dict[str, RealtimeEndpoint] = {}
        self._routers: list[Router] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._stopping: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def streams(self) -> dict[str, RealtimeEndpoint]:
        """The SSE endpoints by exact path."""
        return dict(self._streams)

    def add_stream(self, path: str, endpoint: RealtimeEndpoint) -> None:
        self._streams[path] = endpoint

    def add_router(self, router: Router) -> None:
        self._routers.append(router)

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run by ``stop()``, after every stream was closed; last added runs first."""
        self._shutdown.append(hook)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        path = scope["path"]
        endpoint = self._streams.get(path)
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        for router in self._routers:
            if path in router:
                await router(scope, receive, send)
                return
        await not_found(path)(scope, receive, send)

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

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except StartupError as exc:
                    # One line for the operator; uvicorn's own "startup failed"
                    # log line would only repeat it.
                    print(f"error: {exc}", file=sys.stderr, flush=True)
                    logging.getLogger("uvicorn.error").addFilter(_drop_startup_failed)
                    await send({"type": "lifespan.startup.failed", "message": ""})
                    return
                self._chain_signals()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _begin_shutdown(self) -> asyncio.Task[None]:
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self.close_streams())
        return self._stopping

    def _chain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def on_signal(
                signum: int,
                frame: FrameType | None,
                previous: Callable[[int, FrameType | None], Any] = previous,
            ) -> None:
                loop.call_soon_threadsafe(self._begin_shutdown)
                previous(signum, frame)

            signal.signal(sig, on_signal)


def _drop_startup_failed(record: logging.LogRecord) -> bool:
    return "startup failed" not in record.getMessage()
