"""The Python client against real servers: delivery, cursors, reconnects, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from tests.asgi.conftest import Serve
from tests.asgi.live_server import LiveServer, free_port
from tidings import Message, Realtime
from tidings.asgi import Request, TokenAuth, handle
from tidings.client import (
    ConnectionFailedError,
    ConnectionRejectedError,
    RemoteError,
    RemoteStream,
    connect,
)
from tidings.client._stream import _start_positions


async def take(stream: RemoteStream, count: int, timeout: float = 10.0) -> list[Message]:
    found: list[Message] = []
    async with asyncio.timeout(timeout):
        async for message in stream:
            found.append(message)
            if len(found) == count:
                break
    return found


async def test_messages_arrive_and_cursors_follow(realtime: Realtime, serve: Serve) -> None:
    server = await serve(handle(realtime))
    async with connect(server.url, channels=["a", "b"]) as stream:
        assert stream.status == "connected"
        ids = [
            await realtime.channel("a").emit("x", {"n": 1}),
            await realtime.channel("b").emit("y", [1, "two"]),
        ]
        messages = await take(stream, 2)
        assert sorted(messages, key=lambda m: m.channel) == [
            Message(ids[0], "x", "a", {"n": 1}),
            Message(ids[1], "y", "b", [1, "two"]),
        ]
        assert stream.cursors == {"a": ids[0], "b": ids[1]}
        assert stream.last_event_id != ""
    assert stream.status == "closed"


async def test_last_ack_id_timestamp_and_per_channel(realtime: Realtime, serve: Serve) -> None:
    a = await realtime.channel("a").emit_many([("n", n) for n in range(3)])
    b = await realtime.channel("b").emit_many([("n", n) for n in range(3)])
    server = await serve(handle(realtime))
    async with connect(server.url, channels=["a"], last_ack=a[0]) as stream:
        assert [m.id for m in await take(stream, 2)] == a[1:]
    async with connect(server.url, channels=["a", "b"], last_ack={"a": a[1], "b": 0}) as stream:
        got = await take(stream, 4)
        assert sorted(m.id for m in got) == sorted([a[2], *b])


async def test_event_filter_is_local_and_still_moves_the_cursor(realtime: Realtime, serve: Serve) -> None:
    server = await serve(handle(realtime))
    async with connect(server.url, channels=["c"], events={"keep"}) as stream:
        skipped = await realtime.channel("c").emit("drop", 1)
        kept = await realtime.channel("c").emit("keep", 2)
        assert [m.id for m in await take(stream, 1)] == [kept]
        assert stream.cursors["c"] == kept
        assert skipped < kept


async def test_reconnect_frames_resume_with_no_gap_and_no_duplicate(realtime: Realtime, serve: Serve) -> None:
    endpoint = handle(realtime, max_duration=0.15)
    server = await serve(endpoint)
    channel = realtime.channel("c")

    async def emit_steadily() -> None:
        for n in range(150):
            await channel.emit("n", n)
            await asyncio.sleep(0.003)

    async with connect(server.url, channels=["c"]) as stream:
        emitter = asyncio.create_task(emit_steadily())
        got = await take(stream, 150, timeout=30)
        await emitter
        assert [m.data for m in got] == list(range(150))
        assert stream.connections >= 3


async def test_resume_across_a_restart_keeping_the_realtime(realtime: Realtime) -> None:
    port = free_port()
    first_endpoint = handle(realtime)
    first = await LiveServer(first_endpoint, port=port).start()
    channel = realtime.channel("c")
    async with connect(
        f"http://127.0.0.1:{port}", channels=["c"], min_backoff=0.05, max_backoff=0.2
    ) as stream:
        before = [await channel.emit("n", n) for n in range(3)]
        assert [m.id for m in await take(stream, 3)] == before
        await first_endpoint.shutdown()
        await first.stop()
        during = [await channel.emit("n", n) for n in range(3, 6)]
        reading = asyncio.create_task(take(stream, 6))
        await asyncio.sleep(0.3)  # the client retries against a closed port meanwhile
        second_endpoint = handle(realtime)
        second = await LiveServer(second_endpoint, port=port).start()
        try:
            after = [await channel.emit("n", n) for n in range(6, 9)]
            assert [m.id for m in await reading] == during + after
        finally:
            await second_endpoint.shutdown()
            await second.stop()


async def test_resume_across_a_killed_server_process_with_redis(redis_url: str, unique_prefix: str) -> None:
    from tests.browser.app_process import AppProcess

    app = AppProcess(redis=redis_url, prefix=unique_prefix).start()
    emitter = Realtime(redis=f"{redis_url}?prefix={unique_prefix}")
    try:
        channel = emitter.channel("orders")
        async with connect(
            app.url + "/api/realtime", channels=["orders"], min_backoff=0.05, max_backoff=0.3
        ) as stream:
            before = [await channel.emit("n", n) for n in range(3)]
            assert [m.id for m in await take(stream, 3)] == before
            await asyncio.to_thread(app.kill)
            during = [await channel.emit("n", n) for n in range(3, 6)]
            reading = asyncio.create_task(take(stream, 6, timeout=30))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(app.start)
            after = [await channel.emit("n", n) for n in range(6, 9)]
            assert [m.id for m in await reading] == during + after
            assert stream.connections >= 2
    finally:
        await emitter.aclose()
        await asyncio.to_thread(app.stop)


async def test_refusal_is_raised_at_once(realtime: Realtime, serve: Serve) -> None:
    auth = TokenAuth("k" * 32)
    server = await serve(handle(realtime, middleware=auth))
    with pytest.raises(ConnectionRejectedError) as caught:
        async with connect(server.url, channels=["a"]):
            pass
    assert caught.value.status == 401
    assert "missing access token" in caught.value.error
    async with connect(server.url, channels=["a"], params={"token": auth.issue(["a"], ttl=60)}) as stream:
        assert stream.status == "connected"


async def test_unreachable_server_gives_up_after_max_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailedError, match="after 3 attempt"):
        async with connect(url, max_attempts=3, min_backoff=0.01):
            pass


async def test_error_frames_raise_unless_on_error_takes_them(realtime: Realtime, serve: Serve) -> None:
    stored = await realtime.channel("c").emit_many([("n", n) for n in range(5)])
    server = await serve(handle(realtime, max_replay=2))
    async with connect(server.url, channels=["c"], last_ack="0-0") as stream:
        assert [m.id for m in await take(stream, 2)] == stored[:2]
        with pytest.raises(RemoteError, match="max_replay"):
            await anext(stream)
        live = await realtime.channel("c").emit("n", "live")
        assert (await anext(stream)).id == live
    errors: list[RemoteError] = []
    async with connect(server.url, channels=["c"], last_ack="0-0", on_error=errors.append) as stream:
        await take(stream, 2)
        live = await realtime.channel("c").emit("n", "again")
        assert (await anext(stream)).id == live
        assert len(errors) == 1 and "max_replay" in errors[0].message


@pytest.mark.parametrize("own_client", [False, True])
async def test_silence_longer_than_idle_timeout_reconnects(
    realtime: Realtime, serve: Serve, own_client: bool
) -> None:
    server = await serve(handle(realtime))
    # A caller's client with no read timeout at all must not defeat idle_timeout.
    http = httpx.AsyncClient(timeout=None) if own_client else None
    try:
        async with connect(
            server.url, channels=["c"], idle_timeout=0.2, min_backoff=0.01, http_client=http
        ) as stream:
            reading = asyncio.create_task(take(stream, 1))
            await asyncio.sleep(0.6)
            emitted = await realtime.channel("c").emit("n", 1)
            assert [m.id for m in await reading] == [emitted]
            assert stream.connections >= 2
    finally:
        if http is not None:
            assert not http.is_closed  # the caller's client stays the caller's
            await http.aclose()


async def test_reconnect_sends_last_event_id_and_cursors(realtime: Realtime, serve: Serve) -> None:
    seen: list[Request] = []

    def record(request: Request, channels: Sequence[str]) -> None:
        seen.append(request)

    server = await serve(handle(realtime, middleware=record, max_duration=0.2))
    async with connect(server.url, channels=["c"]) as stream:
        emitted = await realtime.channel("c").emit("n", 1)
        await take(stream, 1)
        await asyncio.sleep(0.3)
        live = await realtime.channel("c").emit("n", 2)
        assert [m.id for m in await take(stream, 1)] == [live]
    assert len(seen) >= 2
    assert seen[1].query_params["last_ack_c"] == emitted
    assert seen[1].headers["last-event-id"].endswith(emitted)


async def test_a_server_that_replays_too_much_yields_no_duplicate(serve: Serve) -> None:
    # Like the original server reconnected to with a stale URL: every
    # connection replays the same events, then closes.
    frames = b"".join(
        b'data: {"id":"%d-0","event":"n","channel":"c","data":%d}\n\n' % (ms, ms) for ms in (1, 2, 3)
    )
    connections = 0

    async def replaying(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal connections
        connections += 1
        body = frames + (
            b'data: {"id":"4-0","event":"n","channel":"c","data":4}\n\n' if connections > 1 else b""
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    server = await serve(replaying)
    async with connect(server.url, channels=["c"], min_backoff=0.01) as stream:
        assert [m.data for m in await take(stream, 4)] == [1, 2, 3, 4]


def test_start_positions_are_checked() -> None:
    assert _start_positions(("a",), "5-1") == {"a": "5-1"}
    positions = _start_positions(("a", "b"), {"a": 7})
    assert positions["a"] == "7"
    assert positions["b"] is not None and positions["b"].isdigit()  # "from now", pinned
    with pytest.raises(ValueError, match="neither an event id"):
        _start_positions(("a",), "soon")
    with pytest.raises(ValueError, match="not in channels"):
        _start_positions(("a",), {"z": "1-0"})
