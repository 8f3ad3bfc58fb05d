"""The native server against clients that do not play by the rules: every request answered or closed.

Malformed requests get a 4xx and a close, a head over its size limit gets 431 (414 for the
request line), a request that does not arrive in time is closed, and a pipelined second
request never touches the first. Clients here say ``Connection: close`` where a test reads
until the server closes (keep-alive itself: test_native_keepalive.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.waiting import wait_until
from tidings import InvalidArgumentError, Realtime
from tidings.asgi import NativeServer, Response

from .conftest import Native
from .raw_http import RawStream


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the loop's exception handler ("Task exception was never retrieved"...)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


Connect = Callable[..., Any]


async def answer(server: NativeServer, connect: Any, data: bytes, *, pieces: int = 1) -> tuple[int, bytes]:
    """Write ``data`` (in ``pieces`` writes); the status and everything the server sent until it closed."""
    reader, writer = await connect(server.port)
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        writer.write(data[start : start + size])
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    received = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    return status, received


def error_of(received: bytes) -> str:
    import orjson

    error: str = orjson.loads(received.partition(b"\r\n\r\n")[2])["error"]
    return error


async def fallback(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await Response(200, {"path": scope["path"]})(scope, receive, send)


# -- parser errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("pieces", [1, 7])
@pytest.mark.parametrize("max_header_size", [None, 1024 * 1024])
async def test_a_url_over_64_kib_gets_414_and_a_close(
    native: Native, connect: Any, loop_errors: list[dict[str, Any]], pieces: int, max_header_size: int | None
) -> None:
    # With a 1 MiB head allowed, httptools' own URL limit (65535 bytes) is the one hit.
    server = await native() if max_header_size is None else await native(max_header_size=max_header_size)
    status, received = await answer(
        server, connect, b"GET /?channel=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", pieces=pieces
    )
    assert status == 414
    assert b"connection: close" in received
    assert "URL" in error_of(received)
    await asyncio.sleep(0.05)
    assert loop_errors == []


@pytest.mark.parametrize(
    "data",
    [
        b"HELLO\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\xff\xfe\r\n\r\n",
    ],
)
async def test_malformed_requests_get_400_and_a_close(
    native: Native, connect: Any, loop_errors: list[dict[str, Any]], data: bytes
) -> None:
    server = await native(fallback=fallback, path="/stream")
    status, received = await answer(server, connect, data)
    assert status == 400
    assert "malformed HTTP request" in error_of(received)
    await asyncio.sleep(0.05)
    assert loop_errors == []


# -- pipelining ---------------------------------------------------------------------------------


async def test_a_pipelined_request_does_not_touch_the_stream_before_it(
    realtime: Realtime, native: Native, connect: Any
) -> None:
    server = await native()
    reader, writer = await connect(server.port)
    writer.write(
        b"GET /?channel=p HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /?channel=q HTTP/1.1\r\nHost: x\r\nLast-Event-ID: not-a-cursor\r\n\r\n"
        b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    stream = RawStream(reader, writer)
    await stream.read_head()
    assert stream.status == 200
    (connected,) = await stream.frames(1)
    assert connected.data == {"type": "connected", "channel": "p", "cursor": "0-0"}
    sent = await realtime.channel("p").emit("n", 1)
    (event,) = await stream.frames(1)
    assert event.data["id"] == sent and event.data["channel"] == "p"
    (connection,) = server.endpoint._connections
    assert connection.channels == ("p",)
    assert server.stats().subscriptions == 1


async def test_after_connection_close_pipelined_requests_get_no_answer(native: Native, connect: Any) -> None:
    server = await native(fallback=fallback, path="/stream")
    first = b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for rest in (
        b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x01garbage\r\n\r\n",
        b"GET /" + b"x" * 99_000,
    ):
        status, received = await answer(server, connect, first + rest)
        assert status == 200
        assert received.count(b"HTTP/1.1 ") == 1
        assert received.endswith(b'{"path":"/one"}')


async def test_what_follows_the_request_never_resets_its_answer(native: Native, connect: Any) -> None:
    # A socket closed with input still arriving answers it with a reset, which destroys the
    # answer the client has not read yet: the server reads and drops what follows instead.
    server = await native(fallback=fallback, path="/stream")
    reader, writer = await connect(server.port)
    writer.write(b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)  # answered by now
    for _ in range(64):
        writer.write(b"GET /more HTTP/1.1\r\n" + b"x" * 16_000)
        await writer.drain()
    received = await asyncio.wait_for(reader.read(), 5)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"path":"/one"}')


async def test_a_request_split_anywhere_is_served_alike(native: Native, connect: Any) -> None:
    server = await native(fallback=fallback, path="/stream")
    data = b"POST /split HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"
    for pieces in (1, 2, 5, len(data)):
        status, received = await answer(server, connect, data, pieces=pieces)
        assert (status, received[-17:]) == (200, b'{"path":"/split"}')


# -- head size ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pieces", [1, 50])
async def test_headers_over_the_limit_get_431(native: Native, connect: Any, pieces: int) -> None:
    server = await native(fallback=fallback, path="/stream", max_header_size=4096)
    lines = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"v" * 100) for n in range(60))
    status, received = await answer(server, connect, b"GET /x HTTP/1.1\r\n" + lines + b"\r\n", pieces=pieces)
    assert status == 431
    assert "4096 bytes" in error_of(received) and "max_header_size" in error_of(received)
    # One header line alone over the limit, never ending: refused once the limit is passed.
    reader, writer = await connect(server.port)
    writer.write(b"GET /x HTTP/1.1\r\nX-Big: ")
    for _ in range(10):
        writer.write(b"y" * 1000)
    received = await asyncio.wait_for(reader.read(), 5)
    assert received.startswith(b"HTTP/1.1 431 ")


async def test_a_request_line_over_the_limit_gets_414(native: Native, connect: Any) -> None:
    server = await native(fallback=fallback, path="/stream", max_header_size=4096)
    for pieces in (1, 10):
        status, received = await answer(
            server, connect, b"GET /" + b"u" * 5000 + b" HTTP/1.1\r\n\r\n", pieces=pieces
        )
        assert status == 414
        assert "max_header_size" in error_of(received)


async def test_a_head_just_under_the_limit_is_served(native: Native, connect: Any) -> None:
    server = await native(fallback=fallback, path="/stream", max_header_size=4096)
    head = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    head += b"p" * (4096 - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == 4096
    status, _ = await answer(server, connect, head, pieces=3)
    assert status == 200


async def test_the_default_header_limit_refuses_megabytes_of_header_lines(
    native: Native, connect: Any
) -> None:
    server = await native()
    reader, writer = await connect(server.port)
    writer.write(b"GET /?channel=a HTTP/1.1\r\n")
    with contextlib.suppress(ConnectionError):
        for n in range(2000):  # 2 MB of header lines, unless cut short
            writer.write(b"X-Line-%d: %s\r\n" % (n, b"z" * 1000))
            await writer.drain()
    received = await asyncio.wait_for(reader.read(), 5)
    assert received.startswith(b"HTTP/1.1 431 ")
    assert b"65536 bytes" in received


# -- timeouts -----------------------------------------------------------------------------------


async def test_requests_that_do_not_arrive_in_time_are_closed(native: Native, connect: Any) -> None:
    server = await native(fallback=fallback, path="/stream", request_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    idle = [await connect(server.port) for _ in range(12)]
    partial_reader, partial_writer = await connect(server.port)
    partial_writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    drip_reader, drip_writer = await connect(server.port)

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            drip_writer.write(b"GET /x HTTP/1.1\r\nX-Drip: ")
            for _ in range(100):  # a byte every 50 ms: each arrives well within any idle timeout
                drip_writer.write(b"a")
                await drip_writer.drain()
                await asyncio.sleep(0.05)

    dripping = asyncio.create_task(drip())
    await wait_until(lambda: server.stats().http_connections == 14)
    for reader, _ in idle:
        assert await asyncio.wait_for(reader.read(), 3) == b""  # nothing asked, nothing answered
    partial = await asyncio.wait_for(partial_reader.read(), 3)
    assert partial.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in partial
    assert (await asyncio.wait_for(drip_reader.read(), 3)).startswith(b"HTTP/1.1 408 ")
    assert loop.time() - started < 2.5
    dripping.cancel()
    await wait_until(lambda: server.stats().http_connections == 0)


async def test_a_stream_outlives_the_request_timeout(realtime: Realtime, native: Native) -> None:
    server = await native(request_timeout=0.2)
    stream = await RawStream.open(server.port, "/?channel=c")
    await stream.frames(1)
    await asyncio.sleep(0.5)
    sent = await realtime.channel("c").emit("n", 1)
    assert [f.data["id"] for f in await stream.frames(1)] == [sent]
    await stream.close()


# -- counters and options -----------------------------------------------------------------------


async def test_stats_count_connections_that_are_not_streams(native: Native, connect: Any) -> None:
    server = await native()
    assert server.stats().http_connections == 0
    opened = [await connect(server.port) for _ in range(3)]
    await wait_until(lambda: server.stats().http_connections == 3)
    stream = await RawStream.open(server.port, "/?channel=c")
    await stream.frames(1)
    stats = server.stats()
    assert (stats.http_connections, stats.connections) == (3, 1)
    for _, writer in opened:
        writer.close()
    await stream.close()
    await wait_until(lambda: server.stats().http_connections == 0 and server.stats().connections == 0)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_header_size", 0),
        ("max_header_size", 1.5),
        ("max_header_size", True),
        ("request_timeout", 0),
        ("request_timeout", -1.0),
        ("request_timeout", "10"),
        ("max_body", -1),
        ("max_keepalive_requests", 0),
        ("keepalive_timeout", -1.0),
    ],
)
async def test_bad_limits_are_refused_naming_the_option(native: Native, option: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=option):
        await native(**{option: value})
