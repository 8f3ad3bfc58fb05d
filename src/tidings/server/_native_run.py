"""Running a ``ServerApp`` on the native server instead of uvicorn (``--native``).

The app's stream endpoints are served by ``tidings.native``'s own asyncio
protocol, with no ASGI in the data path. Every other request -- the
JSON API, the demo's routes, 404s -- goes to the app as the server's
fallback, its body read first (up to the JSON API's own limit, so a body
too large gets the same 413 under both servers).

The startup hooks run before the server accepts (clients wait in the
pre-bound socket's backlog). SIGINT or SIGTERM stops listening, sends every
stream a ``reconnect`` frame, lets requests in progress finish (at most
``GRACE_SECONDS``), runs the shutdown hooks, and the process exits 0.
``--workers N`` runs this in N processes (``_workers``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from tidings.asgi import RealtimeEndpoint
from tidings.native._server import serve_endpoints

from ._api import DEFAULT_MAX_BODY
from ._app import ServerApp, StartupError
from ._config import ServeConfig
from ._run import GRACE_SECONDS

logger = logging.getLogger("tidings.server")

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def run_native(
    app: ServerApp | ServeConfig,
    sock: socket.socket,
    *,
    workers: int = 1,
    log_level: str = "warning",
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status (0 after a clean shutdown).

    ``app`` is a built ``ServerApp`` for one process, or the ``ServeConfig``
    every worker process builds its own app from. ``on_ready`` runs once
    serving (with workers: once every worker serves).
    """
    configure_logging(log_level)
    if isinstance(app, ServeConfig):
        from ._workers import supervise

        return supervise(app, sock, workers=workers, log_level=log_level, on_ready=on_ready)
    try:
        run_loop(serve_app(app, sock, ready=on_ready or _nothing))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


async def serve_app(
    app: ServerApp,
    sock: socket.socket,
    *,
    ready: Callable[[], None],
    stop: asyncio.Event | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Start ``app`` and serve it on the listening ``sock`` until a signal (or ``stop``); then shut down.

    Raises ``StartupError`` if a startup hook refused (nothing was served).
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        server = await serve_endpoints(
            native_streams(app), sock=sock, fallback=app, max_body=DEFAULT_MAX_BODY, **app.native_options
        )
        logger.info("tidings: serving on port %d with the native server (pid %d)", server.port, os.getpid())
        ready()
        await stop.wait()
        logger.info("tidings: shutting down (pid %d)", os.getpid())
        app.begin_shutdown()  # /readyz says so while requests in progress finish
        await server.shutdown(GRACE_SECONDS)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await app.stop()


def native_streams(app: ServerApp) -> dict[str, RealtimeEndpoint]:
    """The app's stream endpoints (any ``RealtimeEndpoint`` serves under the native server too)."""
    return app.streams


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (``uvicorn[standard]`` brings it), as uvicorn would."""
    factory: LoopFactory | None
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def configure_logging(level: str) -> None:
    """Log lines on stderr at ``level`` (the one ``--log-level`` sets for uvicorn otherwise)."""
    logging.basicConfig(level=level.upper(), format="%(levelname)s: %(message)s", stream=sys.stderr)


def _nothing() -> None:
    pass
