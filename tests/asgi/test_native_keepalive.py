"""Keep-alive on the native server: the fallback's answers leave the connection open for the next request.

Requests on one connection are answered one at a time and in order (pipelined ones too), a
stream is a connection's last request, and the limits (``max_keepalive_requests``,
``keepalive_timeout``, ``request_timeout`` per request) close it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from tests.support.waiting import wait_until
from tidings import InvalidArgumentError, Realtime
from tidings.asgi import NativeServer, Response

from .conftest import Native
from .raw_http import RawStream

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter


async def fallback(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    client = scope["client"]
    body = {"path": scope["path"], "size": len(message.get("body", b"")), "port": client[1]}
    await Response(200, body)(scope, receive, send)


async def read_answer(reader: Reader) -> tuple[int, dict[str, str], Any]:
    """One whole answer with Content-Length: status, headers, JSON body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(status_line.split()[1]), headers, orjson.loads(body) if body else None


def get(path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: x", *extra]) + "\r\n\r\n").encode()


async def start(native: Native, **options: Any) -> NativeServer:
    return await native(path="/stream", fallback=fallback, **options)


async def test_httpx_sends_many_requests_on_one_connection(native: Native) -> None:
    server = await start(native)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as http:
        answers = [await http.post(f"/emit/{n}", content=b"x" * n) for n in range(20)]
        assert [a.status_code for a in answers] == [200] * 20
        assert [a.json()["path"] for a in answers] == [f"/emit/{n}" for n in range(20)]
        assert [a.json()["size"] for a in answers] == list(range(20))
        assert len({a.json()["port"] for a in answers}) == 1  # one client socket
        assert all("connection" not in a.headers for a in answers)
        assert server.stats().http_connections == 1
    await wait_until(lambda: server.stats().http_connections == 0)


async def test_a_raw_socket_gets_every_answer_in_turn(native: Native, connect: Any) -> None:
    server = await start(native)
    reader, writer = await connect(server.port)
    for n in range(5):
        body = b"y" * n
        writer.write(b"POST /n%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (n, n, body))
        status, headers, answer = await read_answer(reader)
        assert (status, answer["path"], answer["size"]) == (200, f"/n{n}", n)
        assert "connection" not in headers
    assert server.stats().http_connections == 1
    # The client says it is done: the answer closes the connection.
    writer.write(get("/last", "Connection: close"))
    status, headers, answer = await read_answer(reader)
    assert (status, headers["connection"], answer["path"]) == (200, "close", "/last")
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_pipelined_requests_are_answered_in_order(native: Native, connect: Any) -> None:
    server = await start(native)
    post = b"POST /%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
    chunked = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    data = get("/one") + post % (b"two", 5, b"hello") + chunked + post % (b"four", 2, b"hi") + get("/five")
    for pieces in (1, 3, 17, len(data)):
        reader, writer = await connect(server.port)
        size = -(-len(data) // pieces)
        for at in range(0, len(data), size):
            writer.write(data[at : at + size])
            await writer.drain()
        answers = [await read_answer(reader) for _ in range(5)]
        assert [(a[0], a[2]["path"], a[2]["size"]) for a in answers] == [
            (200, "/one", 0),
            (200, "/two", 5),
            (200, "/c", 3),
            (200, "/four", 2),
            (200, "/five", 0),
        ]


@pytest.mark.parametrize(
    ("rest", "status"),
    [
        (b"\x00\x01garbage\r\n\r\n", 400),
        (b"GET /" + b"x" * 99_000, 414),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 400),
    ],
)
async def test_a_bad_request_after_a_good_one_gets_its_refusal_after_the_answer(
    native: Native, connect: Any, rest: bytes, status: int
) -> None:
    server = await start(native)
    reader, writer = await connect(server.port)
    writer.write(get("/one") + rest)
    first = await read_answer(reader)
    assert (first[0], first[2]["path"]) == (200, "/one")
    second = await read_answer(reader)
    assert (second[0], second[1]["connection"]) == (status, "close")
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_an_idle_connection_is_closed_after_keepalive_timeout(native: Native, connect: Any) -> None:
    server = await start(native, keepalive_timeout=0.3, request_timeout=5)
    reader, writer = await connect(server.port)
    writer.write(get("/a"))
    await read_answer(reader)
    await asyncio.sleep(0.1)
    writer.write(get("/b"))  # in time: served, and the idle wait starts again
    assert (await read_answer(reader))[2]["path"] == "/b"
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a word
    assert 0.2 < asyncio.get_running_loop().time() - started < 2
    await wait_until(lambda: server.stats().http_connections == 0)


async def test_a_busy_connection_outlives_keepalive_timeout(native: Native, connect: Any) -> None:
    # Each request moves the idle deadline later: the timer armed for an
    # earlier one fires before its time and must wait on, not close.
    server = await start(native, keepalive_timeout=0.5, request_timeout=5)
    reader, writer = await connect(server.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = 0
    while loop.time() - started < 1.6:  # over three keepalive_timeouts
        writer.write(get(f"/{n}"))
        assert (await read_answer(reader))[2]["path"] == f"/{n}"
        n += 1
        await asyncio.sleep(0.1)
    idle = loop.time()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.4 < loop.time() - idle < 3


async def test_a_request_begun_while_idle_gets_request_timeout_not_keepalive_timeout(
    native: Native, connect: Any
) -> None:
    # The timer armed for the idle wait fires while the request arrives: it
    # must wait on for request_timeout, not close the connection.
    server = await start(native, keepalive_timeout=0.5, request_timeout=1.5)
    reader, writer = await connect(server.port)
    writer.write(get("/a"))
    await read_answer(reader)
    await asyncio.sleep(0.1)
    begun = asyncio.get_running_loop().time()
    writer.write(b"GET /b HTTP/1.1\r\nHost: x\r\n")  # never ends
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (408, "close")
    assert asyncio.get_running_loop().time() - begun > 1.3


async def test_the_fallback_gets_the_body_once_then_hears_the_client_leave(
    native: Native, connect: Any
) -> None:
    heard: list[Any] = []

    async def listening(scope: Any, receive: Any, send: Any) -> None:
        heard.append(await receive())
        heard.append(await receive())  # nothing more to read: waits until the client leaves

    server = await native(path="/stream", fallback=listening)
    for _ in range(2):  # the second connection's request finds no state of the first
        _, writer = await connect(server.port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        await wait_until(lambda: len(heard) == 1)
        await asyncio.sleep(0.05)
        assert heard == [{"type": "http.request", "body": b"hello", "more_body": False}]
        writer.close()
        await wait_until(lambda: len(heard) == 2)
        assert heard[1] == {"type": "http.disconnect"}
        heard.clear()


async def test_a_later_request_has_request_timeout_to_arrive(native: Native, connect: Any) -> None:
    server = await start(native, keepalive_timeout=5, request_timeout=0.3)
    reader, writer = await connect(server.port)
    writer.write(get("/a"))
    await read_answer(reader)
    await asyncio.sleep(0.5)  # longer than request_timeout, shorter than keepalive_timeout
    writer.write(b"GET /b HTTP/1.1\r\nHost: x\r\n")  # never ends
    status, headers, answer = await read_answer(reader)
    assert (status, headers["connection"]) == (408, "close")
    assert "request_timeout" in answer["error"]


async def test_the_request_limit_closes_the_connection(native: Native, connect: Any) -> None:
    server = await start(native, max_keepalive_requests=3)
    reader, writer = await connect(server.port)
    writer.write(get("/1") + get("/2") + get("/3") + get("/4"))
    answers = [await read_answer(reader) for _ in range(3)]
    assert [a[2]["path"] for a in answers] == ["/1", "/2", "/3"]
    assert [a[1].get("connection") for a in answers] == [None, None, "close"]
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_http_10_is_kept_only_when_it_asks(native: Native, connect: Any) -> None:
    server = await start(native)
    reader, writer = await connect(server.port)
    writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (200, "keep-alive")
    writer.write(b"GET /b HTTP/1.0\r\n\r\n")
    status, headers, answer = await read_answer(reader)
    assert (status, headers["connection"], answer["path"]) == (200, "close", "/b")
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_a_stream_as_a_later_request_is_the_connections_last(
    realtime: Realtime, native: Native, connect: Any
) -> None:
    server = await start(native)
    reader, writer = await connect(server.port)
    writer.write(get("/first"))
    assert (await read_answer(reader))[2]["path"] == "/first"
    # A stream, and a request pipelined behind it that is never served.
    writer.write(get("/stream?channel=c") + get("/after"))
    stream = RawStream(reader, writer)
    await stream.read_head()
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    (connected,) = await stream.frames(1)
    assert connected.data["type"] == "connected"
    sent = await realtime.channel("c").emit("n", 1)
    assert [f.data["id"] for f in await stream.frames(1)] == [sent]
    assert await stream.quiet(0.2) == []
    stats = server.stats()
    assert (stats.connections, stats.http_connections) == (1, 0)
    writer.write(get("/ignored"))
    assert await stream.quiet(0.2) == []


async def test_stream_path_refusals_still_close(native: Native, connect: Any) -> None:
    server = await start(native)
    reader, writer = await connect(server.port)
    writer.write(get("/stream?channel=a%20b") + get("/after"))
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (400, "close")
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_shutdown_closes_idle_kept_alive_connections_at_once(native: Native, connect: Any) -> None:
    server = await start(native, keepalive_timeout=60)
    reader, writer = await connect(server.port)
    writer.write(get("/a"))
    await read_answer(reader)
    stopping = asyncio.create_task(server.shutdown(grace=30))
    assert await asyncio.wait_for(reader.read(), 2) == b""
    await asyncio.wait_for(stopping, 2)


async def test_an_answer_during_shutdown_closes(native: Native, connect: Any) -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await Response(200, {"done": True})(scope, receive, send)

    server = await native(path="/stream", fallback=slow)
    reader, writer = await connect(server.port)
    writer.write(get("/slow"))
    await wait_until(lambda: not next(iter(server._routes.pending)).idle)
    stopping = asyncio.create_task(server.shutdown(grace=5))
    await asyncio.sleep(0.05)
    release.set()
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (200, "close")
    await asyncio.wait_for(stopping, 5)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_keepalive_requests", 0),
        ("max_keepalive_requests", 2.5),
        ("max_keepalive_requests", True),
        ("keepalive_timeout", 0),
        ("keepalive_timeout", "5"),
    ],
)
async def test_bad_keepalive_limits_are_refused_naming_the_option(
    native: Native, option: str, value: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match=option):
        await native(**{option: value})
