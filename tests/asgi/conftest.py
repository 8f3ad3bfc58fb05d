from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tidings import Channel, Realtime
from tidings.asgi import EndpointStats, NativeServer, RealtimeEndpoint, handle, serve_native
from tidings.redis import RedisBackend

from ..support.redis_server import RedisServer
from .live_server import LiveServer
from .raw_http import Frame, RawStream

Serve = Callable[..., Awaitable[LiveServer]]
Open = Callable[..., Awaitable[RawStream]]
Native = Callable[..., Awaitable[NativeServer]]


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
async def native(realtime: Realtime) -> AsyncIterator[Native]:
    """Start ``serve_native`` servers on free ports (path ``/`` unless given); shut down after the test."""
    servers: list[NativeServer] = []

    async def start(realtime: Realtime = realtime, **options: Any) -> NativeServer:
        options.setdefault("path", "/")
        server = await serve_native(realtime, "127.0.0.1", 0, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown(grace=2)


@dataclass
class Served:
    """An endpoint served by one of the two servers: uvicorn (through ASGI ``send``) or the native one."""

    kind: str
    server: LiveServer | NativeServer
    endpoint: RealtimeEndpoint

    @property
    def port(self) -> int:
        return self.server.port

    def stats(self) -> EndpointStats:
        return self.endpoint.stats()


Start = Callable[..., Awaitable[Served]]


@pytest.fixture(params=["uvicorn", "native"])
def start(request: pytest.FixtureRequest, realtime: Realtime, serve: Serve, native: Native) -> Start:
    """Serve ``handle()``'s endpoint (``realtime`` unless given, with its options) under each server."""

    async def start_(on: Realtime = realtime, **options: Any) -> Served:
        if request.param == "native":
            server = await native(on, **options)
            return Served("native", server, server.endpoint)
        endpoint = handle(on, **options)
        return Served("uvicorn", await serve(endpoint), endpoint)

    return start_


@pytest.fixture
async def redis_realtime(redis_server: RedisServer) -> AsyncIterator[Realtime]:
    """A Realtime on the test session's redis-server, reconnecting fast (tests kill its connections)."""
    backend = RedisBackend(
        redis_server.url, command_timeout=2.0, reconnect_delay=0.2, max_reconnect_delay=0.4
    )
    realtime = Realtime(backend=backend)
    yield realtime
    await realtime.aclose()
    await backend.aclose()


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


async def emit_numbers(channel: Channel, stop: asyncio.Event) -> None:
    """Emit 0, 1, 2, ... on ``channel``, yielding to the loop after each, until ``stop`` is set."""
    n = 0
    while not stop.is_set():
        await channel.emit("n", n)
        n += 1
        await asyncio.sleep(0)


async def replay_while_emitting(channel: Channel, server: Any, open_stream: Open) -> tuple[str, list[Frame]]:
    """Open a stream resuming from a stored event while ``emit_numbers`` runs; its first 300 frames.

    Returns the id resumed from and the frames (connected, then 0, 1, 2, ...).
    """
    start = await channel.emit("n", -1)
    stop = asyncio.Event()
    emitter = asyncio.create_task(emit_numbers(channel, stop))
    await asyncio.sleep(0.05)
    stream = await open_stream(server, f"/?channel={channel.name}&last_ack_{channel.name}={start}")
    frames = await stream.frames(300)
    stop.set()
    await emitter
    return start, frames


async def stored_after(channel: Channel, after: str) -> list[str]:
    """Every stored id after ``after``, oldest first."""
    ids: list[str] = []
    while page := await channel.history(after=after, limit=1000):
        ids += [message.id for message in page]
        after = ids[-1]
    return ids


async def check_shutdown(
    shutdown: Callable[[], Awaitable[None]], streams: list[RawStream], open_stream: Open, server: Any
) -> None:
    """``shutdown()`` ends every stream with ``reconnect`` at once (the first one after one
    event), and new requests then get 503."""
    started = time.monotonic()
    await shutdown()
    assert time.monotonic() - started < 1
    for index, stream in enumerate(streams):
        frames = await stream.until_end()
        assert frames[-1].data["type"] == "reconnect"
        assert len(frames) == (2 if index == 0 else 1)
    refused = await open_stream(server, "/?channel=c")
    assert refused.status == 503
    assert "shutting down" in (await refused.json())["error"]


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[int], Any]]:
    """Raw connections, closed after the test."""
    writers: list[asyncio.StreamWriter] = []

    async def connect_(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        return reader, writer

    yield connect_
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
