"""What only the native server (``serve_native``) has: its HTTP handling, the fallback app, request
bodies, several stream paths, a socket bound elsewhere, uvloop, and how its shutdown cuts streams.

The stream itself (frames, replay, pings, max_duration, shutdown frames, backpressure, counts)
is tested under both servers in test_stream.py and test_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.support.waiting import wait_until
from tidings import InvalidArgumentError, Realtime
from tidings.asgi import Request, Response, handle, serve_native
from tidings.native._server import serve_endpoints

from .conftest import Native, Open
from .raw_http import RawStream


@pytest.mark.parametrize(
    ("method", "target", "status", "words"),
    [
        ("POST", "/?channel=a", 405, ["method POST is not allowed"]),
        ("GET", "/?channel=a%20b", 400, ["invalid channel name 'a b'"]),
        ("GET", "/?channel=x&last_ack_x=yesterday", 400, ["last_ack_x"]),
        ("GET", "/elsewhere?channel=a", 404, ["no endpoint at /elsewhere"]),
    ],
)
async def test_refusals_are_json_and_close_the_connection(
    realtime: Realtime,
    native: Native,
    open_stream: Open,
    method: str,
    target: str,
    status: int,
    words: list[str],
) -> None:
    server = await native()
    response = await open_stream(server, target, method=method)
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    if status == 405:
        assert response.headers["allow"] == "GET, OPTIONS"
    error = (await response.json())["error"]
    for word in words:
        assert word in error
    assert await response.reader.read() == b""  # closed by the server
    assert realtime.backend.live_listener_count() == 0


async def test_middleware_refusal_carries_cors_headers(
    realtime: Realtime, native: Native, open_stream: Open
) -> None:
    seen: list[tuple[str | None, list[str]]] = []

    async def authorize(request: Request, channels: Any) -> Response | None:
        seen.append((request.cookies.get("user"), list(channels)))
        if request.query_params.get("token") != "ok":
            return Response(403, {"error": "not yours"})
        return None

    server = await native(middleware=authorize, cors_origins=["https://app.example"])
    headers = {"Origin": "https://app.example", "Cookie": "user=ann"}
    refused = await open_stream(server, "/?channel=a", headers=headers)
    assert refused.status == 403
    assert refused.headers["access-control-allow-origin"] == "https://app.example"
    assert await refused.json() == {"error": "not yours"}
    allowed = await open_stream(server, "/?channel=a&token=ok", headers=headers)
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    (connected,) = await allowed.frames(1)
    assert connected.data["channel"] == "a"
    assert seen == [("ann", ["a"]), ("ann", ["a"])]
    preflight = await open_stream(
        server,
        "/?channel=a",
        method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "content-length" not in preflight.headers
    assert await preflight.reader.read() == b""


async def test_shutdown_cuts_streams_that_do_not_read(native: Native, open_stream: Open) -> None:
    async with Realtime() as realtime:
        server = await native(realtime)
        stream = await open_stream(server, "/?channel=c")
        await stream.frames(1)
        (connection,) = server.endpoint._connections
        assert connection.writer is not None
        while connection.writer.writable:
            await realtime.channel("c").emit_many([("n", "x" * 8192)] * 100)
            await asyncio.sleep(0.01)
        await server.shutdown(grace=0.2)
        await wait_until(lambda: server.stats().connections == 0, timeout=5)
        assert realtime.backend.live_listener_count() == 0


async def test_other_paths_go_to_the_fallback_app(
    realtime: Realtime, native: Native, open_stream: Open
) -> None:
    calls: list[tuple[str, bytes]] = []

    async def health(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope["path"], scope["query_string"]))
        await Response(200, {"ok": True})(scope, receive, send)

    server = await native(path="/api/realtime", fallback=health)
    answer = await open_stream(server, "/healthz?deep=1")
    assert answer.status == 200
    assert await answer.json() == {"ok": True}
    assert calls == [("/healthz", b"deep=1")]
    stream = await open_stream(server, "/api/realtime?channel=c")
    (connected,) = await stream.frames(1)
    assert connected.data["channel"] == "c"
    assert len(calls) == 1


def test_serves_under_uvloop() -> None:
    import uvloop

    async def main() -> None:
        async with Realtime() as realtime:
            server = await serve_native(realtime, "127.0.0.1", 0, path="/", ping_interval=0.1)
            stream = await RawStream.open(server.port, "/?channel=c")
            (connected,) = await stream.frames(1)
            assert connected.data["channel"] == "c"
            sent = await realtime.channel("c").emit("n", 1)
            (event,) = await stream.frames(1)
            assert event.data["id"] == sent
            assert (await stream.frame(2)).type == "ping"
            await server.shutdown()
            assert (await stream.until_end())[-1].type == "reconnect"
            await stream.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


# -- request bodies, several stream paths, a socket bound elsewhere ------------------------------


def echo_app(seen: list[tuple[str, bytes]]) -> Any:
    """A fallback that answers ``{"size": N}`` for the body it received (and records it)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["more_body"] is False
        seen.append((scope["method"], message["body"]))
        await Response(200, {"size": len(message["body"])})(scope, receive, send)

    return app


Send = Callable[..., Awaitable[RawStream]]


@pytest.fixture
async def send_raw() -> AsyncIterator[Send]:
    """Write bytes as a whole request (pausing after ``pause_after`` bytes) and read the answer's head."""
    streams: list[RawStream] = []

    async def send(port: int, data: bytes, *, pause_after: int | None = None) -> RawStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        stream = RawStream(reader, writer)
        streams.append(stream)
        if pause_after is None:
            writer.write(data)
        else:
            writer.write(data[:pause_after])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(data[pause_after:])
        await stream.read_head()
        return stream

    yield send
    for stream in streams:
        await stream.close()


async def test_the_fallback_gets_the_request_body(native: Native, send_raw: Send) -> None:
    seen: list[tuple[str, bytes]] = []
    server = await native(path="/stream", fallback=echo_app(seen))
    body = orjson.dumps({"text": "x" * 70_000})
    head = b"POST /emit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = await send_raw(
        server.port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body, pause_after=100
    )
    assert (answer.status, await answer.json()) == (200, {"size": len(body)})
    chunked = b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    answer = await send_raw(server.port, head + chunked)
    assert (answer.status, await answer.json()) == (200, {"size": 11})
    empty = await send_raw(server.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (empty.status, await empty.json()) == (200, {"size": 0})
    assert seen == [("POST", body), ("POST", b"hello world"), ("GET", b"")]


async def test_a_body_over_the_limit_is_refused_with_413_and_read_to_its_end(
    native: Native, send_raw: Send
) -> None:
    seen: list[tuple[str, bytes]] = []
    server = await native(path="/stream", fallback=echo_app(seen), max_body=1000)
    # Declared too large: refused at once, and the body the client goes on sending is drained,
    # so it reads the answer instead of a reset connection.
    body = b"x" * 4_000_000
    head = b"POST /emit HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = await send_raw(server.port, head + body)
    assert answer.status == 413
    assert answer.headers["connection"] == "close"
    assert await answer.json() == {"error": "request body is 4000000 bytes; the limit is 1000"}
    assert await answer.reader.read() == b""
    # Chunked, so only counting tells: refused once past the limit.
    chunks = b"".join(b"200\r\n" + b"y" * 512 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    answer = await send_raw(
        server.port, b"POST /emit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    )
    assert answer.status == 413
    assert await answer.json() == {"error": "request body is over the limit of 1000 bytes"}
    # At the limit exactly: served.
    exact = b"z" * 1000
    answer = await send_raw(
        server.port, b"POST /emit HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + exact
    )
    assert (answer.status, await answer.json()) == (200, {"size": 1000})
    assert seen == [("POST", exact)]


async def test_a_big_post_from_httpx_gets_its_413(native: Native) -> None:
    server = await native(path="/stream", fallback=echo_app([]))
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"http://127.0.0.1:{server.port}/emit", content=b" " * (3 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.json()["error"] == f"request body is {3 * 1024 * 1024} bytes; the limit is {1024 * 1024}"


async def test_expect_100_continue_is_answered_before_the_body(native: Native, send_raw: Send) -> None:
    server = await native(path="/stream", fallback=echo_app([]), max_body=10)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /emit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"abcd")
    stream = RawStream(reader, writer)
    await stream.read_head()
    assert (stream.status, await stream.json()) == (200, {"size": 4})
    await stream.close()
    # Too large: the final answer comes instead of the 100, and the body need not follow.
    too_big = await send_raw(
        server.port, b"POST /emit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
    )
    assert too_big.status == 413


async def test_several_stream_paths_each_with_its_endpoint(native: Native, realtime: Realtime) -> None:
    async with Realtime() as other:
        endpoints = {"/a": handle(realtime), "/b": handle(other, ping_interval=0.1)}
        server = await serve_endpoints(endpoints, host="127.0.0.1", port=0)
        try:
            on_a = await RawStream.open(server.port, "/a?channel=c")
            on_b = await RawStream.open(server.port, "/b?channel=c")
            await on_a.frames(1)
            await on_b.frames(1)
            sent_a = await realtime.channel("c").emit("n", "a")
            sent_b = await other.channel("c").emit("n", "b")
            assert [f.data["id"] for f in await on_a.frames(1)] == [sent_a]
            assert [f.data["id"] for f in await on_b.frames(1)] == [sent_b]
            assert (await on_b.frame(2)).type == "ping"
            missing = await RawStream.open(server.port, "/a/?channel=c")  # exact paths
            assert missing.status == 404
            assert (await missing.json())["error"] == "no endpoint at /a/; the streams are at /a, /b"
            assert server.endpoints == endpoints
            await server.shutdown()
            assert [f.type for f in await on_a.until_end()][-1] == "reconnect"
            assert [f.type for f in await on_b.until_end()][-1] == "reconnect"
            await asyncio.gather(on_a.close(), on_b.close(), missing.close())
        finally:
            await server.shutdown()


async def test_serves_a_socket_bound_and_listening_elsewhere(realtime: Realtime) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    with pytest.raises(InvalidArgumentError, match="not both"):
        await serve_native(realtime, "127.0.0.1", 0, sock=sock, path="/")
    server = await serve_native(realtime, sock=sock, path="/")
    try:
        assert server.port == port
        stream = await RawStream.open(port, "/?channel=c")
        assert [f.data["type"] for f in await stream.frames(1)] == ["connected"]
        await server.shutdown()
        assert (await stream.until_end())[-1].type == "reconnect"
        await stream.close()
    finally:
        await server.shutdown()
        sock.close()


async def test_shutdown_lets_requests_in_progress_finish_and_closes_idle_connections(
    native: Native, send_raw: Send
) -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await Response(200, {"done": True})(scope, receive, send)

    server = await native(path="/stream", fallback=slow)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
    busy = asyncio.create_task(send_raw(server.port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
    await wait_until(lambda: len(server._routes.pending) == 2)
    stopping = asyncio.create_task(server.shutdown(grace=5))
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed at once: it had asked nothing
    await asyncio.sleep(0.1)
    assert not stopping.done()
    release.set()
    answer = await busy
    assert (answer.status, await answer.json()) == (200, {"done": True})
    await asyncio.wait_for(stopping, 5)
    idle_writer.close()
    await idle_writer.wait_closed()
