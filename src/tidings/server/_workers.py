"""``--native --workers N``: N spawned processes serving one pre-bound listening socket.

Each worker builds its own app from the ``ServeConfig`` (a ``Realtime`` and
its connections cannot cross a process boundary) and serves the socket it
inherited; the kernel hands each new connection to one of them. The
supervisor, the ``tidings serve`` process itself:

* waits until every worker serves, then runs ``on_ready`` (the banner); if
  one cannot start, prints its one line once, stops the others, returns 1;
* replaces a worker that dies while serving (at most once a second each);
* on SIGINT or SIGTERM closes its copy of the socket and sends every worker
  SIGTERM; each sends its streams ``reconnect`` and exits 0; returns 0 when
  all did.

Workers ignore SIGINT: Ctrl-C reaches the whole process group, and the
supervisor turns it into one orderly SIGTERM per worker. A worker whose
supervisor was killed sees its pipe close and shuts down as well.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from types import FrameType

from ._app import ServerApp, StartupError
from ._config import ServeConfig
from ._factory import build_app
from ._native_run import configure_logging, run_loop, serve_app
from ._run import GRACE_SECONDS

logger = logging.getLogger("tidings.server")

STARTUP_FAILURE = 3
# After SIGTERM a worker needs at most GRACE_SECONDS and its shutdown hooks; then it is killed.
STOP_SECONDS = GRACE_SECONDS + 5.0
RESTART_DELAY = 1.0
POLL_SECONDS = 0.2
_CLEAN_EXITS = (0, -signal.SIGTERM)


class _Worker:
    """One worker process and the pipe it reports its startup on."""

    def __init__(self, context: SpawnContext, config: str, sock: socket.socket, log_level: str) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=worker_main, args=(config, sock, child, log_level), name="tidings-worker", daemon=False
        )
        self.process.start()
        child.close()
        self.started_at = time.monotonic()
        self.serving = False
        self.silent = False  # the pipe closed: nothing more will come

    def poll(self) -> str | None:
        """Read the worker's reports: the reason it gave for not starting, if it gave one."""
        try:
            while not self.silent and self.conn.poll():
                kind, text = self.conn.recv()
                if kind == "ready":
                    self.serving = True
                else:
                    return str(text)
        except (EOFError, OSError):
            self.silent = True
        return None

    def waitables(self) -> list[Connection | int]:
        if not self.process.is_alive():
            return []
        return [self.process.sentinel] if self.silent else [self.process.sentinel, self.conn]


def supervise(
    config: ServeConfig,
    sock: socket.socket,
    *,
    workers: int,
    log_level: str,
    on_ready: Callable[[], None] | None,
) -> int:
    """Run ``workers`` processes on ``sock`` until SIGINT/SIGTERM; the exit status."""
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    pool: list[_Worker] = []
    try:
        text = config.to_json()
        pool = [_Worker(context, text, sock, log_level) for _ in range(workers)]
        failure = _started(pool, stopping)
        if failure is not None:
            print(f"error: {failure}", file=sys.stderr, flush=True)
            _stop(pool, sock)
            return 1
        if not stopping and on_ready is not None:
            on_ready()
        while not stopping:
            wait([w for worker in pool for w in worker.waitables()], timeout=POLL_SECONDS)
            for index, worker in enumerate(pool):
                reason = worker.poll()
                if reason is not None:
                    logger.error("tidings: a new worker could not start: %s", reason)
                if worker.process.is_alive() or stopping:
                    continue
                if time.monotonic() - worker.started_at < RESTART_DELAY:
                    continue  # replaced on a later round, so a crashing worker does not spin
                logger.warning(
                    "tidings: worker %s exited with status %s; starting another",
                    worker.process.pid,
                    worker.process.exitcode,
                )
                worker.conn.close()
                pool[index] = _Worker(context, text, sock, log_level)
        return 0 if _stop(pool, sock) else 1
    finally:
        if any(worker.process.is_alive() for worker in pool):
            _stop(pool, sock)  # the supervisor itself failed: leave no worker behind
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _started(pool: list[_Worker], stopping: list[int]) -> str | None:
    """Wait until every worker serves; the first one's reason if one cannot start."""
    while not stopping:
        starting = [worker for worker in pool if not worker.serving]
        if not starting:
            return None
        wait([w for worker in starting for w in worker.waitables()], timeout=POLL_SECONDS)
        for worker in starting:
            reason = worker.poll()
            if reason is not None:
                return reason
            if not worker.process.is_alive():
                return f"a worker exited with status {worker.process.exitcode} before it started"
    return None


def _stop(pool: list[_Worker], sock: socket.socket) -> bool:
    """Stop every worker (SIGTERM, then SIGKILL past ``STOP_SECONDS``); True if all ended cleanly."""
    # Once the workers close theirs, new connections are refused instead of queueing for nobody.
    sock.close()
    for worker in pool:
        if worker.process.is_alive():
            worker.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    clean = True
    for worker in pool:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            logger.warning("tidings: worker %s did not stop in time; killing it", worker.process.pid)
            worker.process.kill()
            worker.process.join()
        clean = clean and worker.process.exitcode in _CLEAN_EXITS
        worker.conn.close()
    return clean


# -- in the worker process ------------------------------------------------------------------


def worker_main(config: str, sock: socket.socket, conn: Connection, log_level: str) -> None:
    """A worker's life: build the app, serve ``sock`` until SIGTERM, report startup on ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(log_level)
    try:
        app = build_app(ServeConfig.from_json(config))
    except Exception as exc:
        conn.send(("failed", f"building the app failed: {type(exc).__name__}: {exc}"))
        sys.exit(STARTUP_FAILURE)
    try:
        run_loop(_serve(app, sock, conn))
    except StartupError as exc:
        conn.send(("failed", str(exc)))
        sys.exit(STARTUP_FAILURE)


async def _serve(app: ServerApp, sock: socket.socket, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def supervisor_gone() -> None:
        # The supervisor never writes: the pipe turning readable means it closed.
        loop.remove_reader(conn.fileno())
        stop.set()

    loop.add_reader(conn.fileno(), supervisor_gone)
    try:
        await serve_app(
            app, sock, ready=lambda: conn.send(("ready", "")), stop=stop, signals=(signal.SIGTERM,)
        )
    finally:
        loop.remove_reader(conn.fileno())
