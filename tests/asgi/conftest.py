from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tidings import Realtime

from .live_server import LiveServer
from .raw_http import RawStream

Serve = Callable[..., Awaitable[LiveServer]]
Open = Callable[..., Awaitable[RawStream]]


@pytest.fixture
async def realtime() -> AsyncIterator[Realtime]:
    realtime = Realtime()
    yield realtime
    await realtime.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a real uvicorn for an app; every server is stopped after the test."""
    servers: list[tuple[LiveServer, Any]] = []

    async def start(app: Any, *, endpoint: Any = None, **config: Any) -> LiveServer:
        config.setdefault("timeout_graceful_shutdown", 2)
        server = await LiveServer(app, **config).start()
        servers.append((server, endpoint if endpoint is not None else app))
        return server

    yield start
    for server, endpoint in servers:
        if hasattr(endpoint, "shutdown"):
            await endpoint.shutdown(grace=2)
        await server.stop()


@pytest.fixture
async def open_stream() -> AsyncIterator[Open]:
    """Open raw HTTP requests; all are closed after the test."""
    streams: list[RawStream] = []

    async def open_(server: LiveServer, target: str = "/", **options: Any) -> RawStream:
        stream = await RawStream.open(server.port, target, **options)
        streams.append(stream)
        return stream

    yield open_
    for stream in streams:
        await stream.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
