"""A real uvicorn serving an ASGI app on a free loopback port, inside the test's event loop.

``httpx.ASGITransport`` buffers whole responses, so endless SSE streams are
tested over real sockets. Running the server as a task of the test's own
loop lets a test emit with plain ``await`` and inspect the server's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to pytest, not to a server living inside a test.
        yield


class LiveServer:
    """``async with LiveServer(app) as server: server.url``; ``stop()`` may come earlier."""

    def __init__(self, app: Any, *, port: int | None = None, **config: Any) -> None:
        self.port = port or free_port()
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "lifespan": "off",
            "log_level": "warning",
            "ws": "none",
            "http": "httptools",
            "loop": "none",
        }
        options.update(config)
        self.server = _Server(uvicorn.Config(app, **options))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LiveServer:
        self._task = asyncio.create_task(self.server.serve(), name="uvicorn")
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        return self

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        await self._task
        self._task = None

    async def __aenter__(self) -> LiveServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
