"""Every reader of one channel, opened once per module: the cross-reader property's rig.

A ``Readers`` holds, for one ``Realtime`` on the memory backend: a live
``stream()`` and a ``subscribe`` callback, raw SSE streams and
``tidings.client`` streams under uvicorn (``handle()``) and under
``serve_native``, and the JSON API (``/history``) served by both. Servers
start once per module; each example only emits and reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

import tidings.client
from tests.asgi.live_server import LiveServer
from tests.asgi.raw_http import RawStream
from tidings import Message, Realtime
from tidings._delivery import Stream
from tidings.asgi import NativeServer, handle, serve_native
from tidings.server import JsonApi, ServerApp

from .schemas import TYPED

CHANNEL = "prop"
TOKEN = "roundtrip-test-token-0123456789"


class Readers:
    """One realtime and every way to read its channel ``CHANNEL``.

    A plain class with a short repr: hypothesis prints a failing example's
    arguments, and this one holds sockets and buffers.
    """

    def __init__(
        self,
        realtime: Realtime,
        live: Stream,
        callback: list[Message],
        sse: dict[str, RawStream],
        clients: dict[str, tidings.client.RemoteStream],
        api: dict[str, str],
        http: httpx.AsyncClient,
    ) -> None:
        self.realtime = realtime
        self.live = live
        self.callback = callback
        self.sse = sse
        self.clients = clients
        self.api = api
        self.http = http
        self.closers: list[Any] = []

    def __repr__(self) -> str:
        return f"Readers(open schema: {self.realtime.schema.is_open})"


async def open_readers(realtime: Realtime) -> Readers:
    stack = contextlib.AsyncExitStack()
    channel = realtime.channel(CHANNEL)
    live = await stack.enter_async_context(channel.stream())
    callback: list[Message] = []
    await channel.subscribe(on_data=callback.append)

    api = JsonApi(realtime, token=TOKEN)
    endpoint = handle(realtime)
    app = ServerApp()
    app.add_stream("/", endpoint)
    app.add_router(api.router)
    uvicorn_server = await LiveServer(app, timeout_graceful_shutdown=2).start()
    native: NativeServer = await serve_native(realtime, "127.0.0.1", 0, path="/", fallback=api.router)

    ports = {"uvicorn": uvicorn_server.port, "native": native.port}
    sse: dict[str, RawStream] = {}
    clients: dict[str, tidings.client.RemoteStream] = {}
    for name, port in ports.items():
        stream = await RawStream.open(port, f"/?channel={CHANNEL}")
        [connected] = await stream.frames(1)
        assert connected.type == "connected"
        sse[name] = stream
        client = tidings.client.connect(f"http://127.0.0.1:{port}/", channels=[CHANNEL], reconnect=False)
        clients[name] = await stack.enter_async_context(client)
    http = await stack.enter_async_context(
        httpx.AsyncClient(headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    )

    async def close() -> None:
        for stream in sse.values():
            await stream.close()
        await stack.aclose()
        await native.shutdown(grace=1)
        await endpoint.shutdown(grace=1)
        await uvicorn_server.stop()
        await realtime.aclose()

    readers = Readers(
        realtime,
        live,
        callback,
        sse,
        clients,
        {name: f"http://127.0.0.1:{port}/history?channel={CHANNEL}&limit=1" for name, port in ports.items()},
        http,
    )
    readers.closers.append(close)
    return readers


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def typed_readers() -> AsyncIterator[Readers]:
    readers = await open_readers(Realtime(TYPED))
    yield readers
    for close in readers.closers:
        await close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def open_readers_() -> AsyncIterator[Readers]:
    readers = await open_readers(Realtime())
    yield readers
    for close in readers.closers:
        await close()


async def next_within(awaitable: Any, seconds: float = 5.0) -> Any:
    return await asyncio.wait_for(awaitable, seconds)
