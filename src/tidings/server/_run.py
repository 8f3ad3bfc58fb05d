"""Running a ``ServerApp`` under uvicorn: one socket bound up front, N workers, clean exits.

The socket is bound (and listening) before uvicorn starts, so a port in use
is one clear error, ``--port 0`` picks a free port whose URL can be printed,
and clients that connect before the app is ready wait in the backlog.

Workers are separate processes (uvicorn's spawn supervisor); each builds its
own app from the ``ServeConfig`` passed in the environment, because a
``Realtime`` and its connections cannot cross a process boundary.

``--native`` runs the app on tidings' own server instead (``_native_run``),
on a socket from the same ``bind``.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from tidings._exceptions import ServerError as ServerError  # with the other errors; still importable here

from ._app import ServerApp
from ._config import CONFIG_ENV, ServeConfig

FACTORY = "tidings.server._factory:app_from_environment"
# Past this, uvicorn stops waiting for responses that did not end on the
# reconnect frame (a client that stopped reading).
GRACE_SECONDS = 3.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``ServerError`` if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServerError(
                f"port {port} on {host} is already in use; choose another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise ServerError(f"no permission to listen on {host}:{port}; use a port above 1023") from None
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run(
    app: ServerApp | ServeConfig,
    sock: socket.socket,
    *,
    workers: int = 1,
    log_level: str = "warning",
    access_log: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status (0 after a clean shutdown).

    ``app`` is a built ``ServerApp`` for one worker, or the ``ServeConfig``
    every worker process builds its own app from. ``on_ready`` runs once
    the app has started (with workers: once they are launched).
    """
    import uvicorn

    _exit_cleanly_on_sigterm()
    options: dict[str, Any] = {
        "log_level": log_level,
        "access_log": access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": GRACE_SECONDS,
        "server_header": False,
    }
    if isinstance(app, ServeConfig):
        from uvicorn.config import STARTUP_FAILURE
        from uvicorn.supervisors import Multiprocess

        os.environ[CONFIG_ENV] = app.to_json()
        supervisor = Multiprocess(
            uvicorn.Config(FACTORY, factory=True, workers=workers, **options), sockets=[sock]
        )
        if on_ready is not None:
            on_ready()
        supervisor.run()
        failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
        return 1 if failed else 0
    if on_ready is not None:
        ready = on_ready

        async def announce() -> None:
            ready()

        app.on_startup(announce)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the signal it shut down on; the shutdown was clean.
        return 0
    except SystemExit as exc:
        # SIGTERM after a clean shutdown (see below), or uvicorn's own exit
        # when startup failed -- which the app already explained in one line.
        return 0 if exc.code in (0, None) else 1
    return 0 if server.started else 1


def _exit_cleanly_on_sigterm() -> None:
    # uvicorn restores this handler and re-raises SIGTERM after its graceful
    # shutdown; the default action would report death by signal instead of 0.
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    handler: Callable[[int, FrameType | None], None] = on_sigterm
    signal.signal(signal.SIGTERM, handler)
