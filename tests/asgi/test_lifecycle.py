"""Keepalives, time limits, shutdown, and nothing left behind when clients leave: under both servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support.waiting import wait_until
from tidings import Limits, Realtime
from tidings._ids import now_ms
from tidings.asgi import handle
from tidings.asgi._send_writer import SendWriter

from .conftest import Open, Start, check_shutdown, stored_after
from .live_server import LiveServer
from .raw_http import RawStream


async def test_ping_frames_at_the_configured_interval(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start(ping_interval=0.15)
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    started = time.monotonic()
    pings = [await stream.frame(2), await stream.frame(2)]
    elapsed = time.monotonic() - started
    for ping in pings:
        assert ping.data["type"] == "ping"
        assert set(ping.data) == {"type", "timestamp"}
        assert abs(ping.data["timestamp"] - now_ms()) < 2000
    assert 0.2 < elapsed < 1.5
    # A data frame, not an SSE comment: the browser client only resets its timer on messages.
    assert b'\ndata: {"type":"ping","timestamp":' in b"\n" + stream.raw
    # Keepalives never touch the backend: no event was stored.
    assert await realtime.channel("c").history() == []


async def test_one_ping_timer_pings_every_stream(realtime: Realtime, start: Start, open_stream: Open) -> None:
    server = await start(ping_interval=0.2)
    streams = [await open_stream(server, f"/?channel=c{n}") for n in range(3)]
    for stream in streams:
        await stream.frames(1)
    for stream in streams:
        pings = [await stream.frame(2), await stream.frame(2)]
        assert [p.data["type"] for p in pings] == ["ping", "ping"]
        assert abs(pings[0].data["timestamp"] - now_ms()) < 2000
        assert 100 <= pings[1].data["timestamp"] - pings[0].data["timestamp"] <= 1000
    assert await realtime.channel("c0").history() == []


async def test_reconnect_frame_then_close_at_max_duration(start: Start, open_stream: Open) -> None:
    server = await start(max_duration=0.3)
    early = await open_stream(server, "/?channel=c")
    await asyncio.sleep(0.15)
    late = await open_stream(server, "/?channel=c")
    before = now_ms()
    frames = await early.until_end()
    assert [f.data["type"] for f in frames] == ["connected", "reconnect"]
    assert before - 1 <= frames[1].data["timestamp"] <= now_ms()
    assert not late.ended
    assert [f.data["type"] for f in await late.until_end()] == ["connected", "reconnect"]
    await wait_until(lambda: server.stats().connections == 0)


async def test_no_reconnect_frame_without_max_duration(start: Start, open_stream: Open) -> None:
    server = await start()
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    assert await stream.quiet(0.5) == []
    assert not stream.ended


async def test_shutdown_sends_reconnect_to_every_stream_and_refuses_new_ones(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start()
    streams = [await open_stream(server, f"/?channel=c{n}") for n in range(3)]
    for stream in streams:
        await stream.frames(1)
    await realtime.channel("c0").emit("n", 1)
    await check_shutdown(server.endpoint.shutdown, streams, open_stream, server)
    assert server.stats().connections == 0
    assert realtime.backend.live_listener_count() == 0
    if isinstance(server.server, LiveServer):
        # With no stream left, uvicorn stops at once.
        started = time.monotonic()
        await server.server.stop()
        assert time.monotonic() - started < 1
    else:
        await server.server.shutdown()
        with pytest.raises(ConnectionRefusedError):
            await RawStream.open(server.port, "/")


async def test_a_slow_client_backs_up_into_history_not_memory(start: Start, open_stream: Open) -> None:
    async with Realtime(limits=Limits(subscriber_queue=100)) as realtime:
        server = await start(realtime)
        stream = await open_stream(server, "/?channel=c")
        await stream.frames(1)
        (connection,) = server.endpoint._connections
        payload = "x" * 8192
        channel = realtime.channel("c")
        for _ in range(30):
            await channel.emit_many([("n", payload)] * 100)
            await asyncio.sleep(0)
        # The client stopped keeping up: its feed overflowed (it catches up from history)...
        writer = connection.writer
        assert writer is not None
        assert not connection._slots[0].feed.settled
        if server.kind == "native":
            # ... as the socket buffer filled and the writer stopped taking from the feeds,
            assert not writer.writable
        else:
            # ... while the writer holds no more than send_buffer (64 KiB) beyond one batch
            # (under ASGI it stays writable while a send waits: the stream is flushed by that task).
            assert isinstance(writer, SendWriter)
            assert writer._pending <= 65_536 + 100 * 9000
        frames = await stream.frames(3000, timeout=20)
        assert [f.data["id"] for f in frames] == await stored_after(channel, "0-0")


async def test_lifespan_shutdown_closes_streams(realtime: Realtime, serve: Any, open_stream: Open) -> None:
    endpoint = handle(realtime)
    server = await serve(endpoint)
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    lifespan = asyncio.create_task(endpoint({"type": "lifespan"}, incoming.get, send))
    await incoming.put({"type": "lifespan.startup"})
    await incoming.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 5)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    frames = await stream.until_end()
    assert frames[-1].data["type"] == "reconnect"


async def test_server_giving_up_on_graceful_shutdown_still_sends_reconnect(
    realtime: Realtime, open_stream: Open
) -> None:
    # uvicorn --timeout-graceful-shutdown: the stream task is cancelled, and
    # the client is still told to reconnect rather than just cut off.
    server = await LiveServer(handle(realtime), timeout_graceful_shutdown=0.3).start()
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    stopping = asyncio.create_task(server.stop())
    frames = await stream.until_end()
    assert [f.data["type"] for f in frames] == ["reconnect"]
    await asyncio.wait_for(stopping, 5)
    assert realtime.backend.live_listener_count() == 0


async def test_a_thousand_connections_leave_nothing_behind(realtime: Realtime, start: Start) -> None:
    server = await start()
    await asyncio.sleep(0.05)
    baseline = server.stats()
    assert baseline.connections == 0

    async def visit(n: int) -> RawStream:
        stream = await RawStream.open(server.port, f"/?channel=room-{n % 10}&channel=user-{n}")
        await stream.frames(2, timeout=30)
        return stream

    streams = await asyncio.gather(*(visit(n) for n in range(1000)))
    await asyncio.sleep(0.05)
    during = server.stats()
    assert during.connections == 1000
    assert during.subscriptions == 2000
    # Each stream's own channel has a feed of its own; the streams of a room share one (its tap).
    assert during.backend_listeners == 1000 + 10
    if server.kind == "native":
        # No task per stream.
        assert during.tasks <= baseline.tasks + 5
    else:
        # The request and the disconnect watcher; no task per channel.
        assert baseline.tasks + 2000 <= during.tasks < baseline.tasks + 2500
    room = await realtime.channel("room-3").emit("n", 1)
    for stream in streams[3::10]:
        (frame,) = await stream.frames(1)
        assert frame.data["id"] == room
    await asyncio.gather(*(stream.close() for stream in streams))
    await wait_until(lambda: server.stats().connections == 0, timeout=20)
    await asyncio.sleep(0.05)  # let uvicorn's own per-connection tasks finish too
    after = server.stats()
    assert after.served == 1000
    assert after.connections == 0
    assert after.subscriptions == 0
    assert after.backend_listeners == 0
    assert after.tasks <= baseline.tasks
    assert server.endpoint._pacer.idle
