"""Seeded fuzzing of the native server over raw sockets: mutated and garbage requests.

Every connection is answered or closed within a bounded time (a kept-alive one once idle),
nothing fails inside the server (no 500, no error logged, nothing left to the loop's
exception handler), a stream opened before the fuzz still gets the event emitted after it,
and every count returns to its baseline.

``TIDINGS_FUZZ_CASES`` (default 500) sets how many requests; ``TIDINGS_FUZZ_SEED`` the seed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
from typing import Any

import pytest

from tests.support.waiting import wait_until
from tidings import Realtime
from tidings.asgi import Response
from tidings.asgi._cursor import channel_tag

from .conftest import Native
from .raw_http import RawStream

CASES = int(os.environ.get("TIDINGS_FUZZ_CASES", "500"))
SEED = int(os.environ.get("TIDINGS_FUZZ_SEED", "20240611"))
IN_FLIGHT = 40
REQUEST_TIMEOUT = 0.5
# A connection must be answered (a stream: its head) or closed within this.
DEADLINE = REQUEST_TIMEOUT + 5.0

_CURSOR = f"{channel_tag('a')}1-0.{channel_tag('b')}2-3".encode()
CORPUS = [
    b"GET /api/realtime?channel=a HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/realtime?channel=a&channel=b&last_ack_a=0-0&last_ack_b=17 HTTP/1.1\r\nHost: x\r\n"
    b"Last-Event-ID: " + _CURSOR + b"\r\nCookie: user=ann\r\n\r\n",
    b"OPTIONS /api/realtime HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
    b"Access-Control-Request-Method: GET\r\n\r\n",
    b"HEAD /api/realtime?channel=c HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /emit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
    b'{"a": "bcd"}\n',
    b"POST /emit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"PUT /emit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"GET /api/realtime?channel=a HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n",
    # Kept alive: pipelined requests for the fallback, then a stream.
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /emit HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    b"GET /api/realtime?channel=b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/realtime HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
]
_SPECIAL = [b"\r\n", b"\n", b"\r", b"\x00", b":", b" ", b"\t", b"%", b"?", b"&", b"=", b"\xff", b"-", b"."]
_NUMBERS = [b"0", b"-1", b"18446744073709551616", b"99999999999999999999999", b"\xd9\xa1", b"1e9", b""]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits of ``data``: flips, insertions, deletions, repeats, cuts, splices."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randint(0, len(out))
        kind = rng.randrange(9)
        if kind == 0 and out:  # flip a byte
            out[min(where, len(out) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert a byte that means something to HTTP
            out[where:where] = rng.choice(_SPECIAL)
        elif kind == 2:  # insert random bytes
            out[where:where] = rng.randbytes(rng.randint(1, 16))
        elif kind == 3:  # delete a slice
            del out[where : where + rng.randint(1, 20)]
        elif kind == 4:  # repeat a slice, up to enough to pass the head limit
            piece = bytes(out[where : where + rng.randint(1, 40)]) or b"x"
            out[where:where] = piece * rng.choice([2, 10, 300, 3000])
        elif kind == 5:  # cut short: the server waits, then times out
            del out[where:]
        elif kind == 6:  # a number where one may be
            out[where:where] = rng.choice(_NUMBERS)
        elif kind == 7:  # splice another request in
            other = rng.choice(CORPUS)
            out[where:] = other[rng.randint(0, len(other)) :]
        else:  # a header line
            line = b"X-F" + rng.randbytes(3).hex().encode() + b": " + rng.randbytes(rng.randint(0, 30))
            out[where:where] = line + b"\r\n"
    return bytes(out)


def case(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.08:
        return rng.randbytes(rng.randint(0, 300))  # garbage
    if roll < 0.12:
        return b""  # connects and says nothing
    return mutate(rng, rng.choice(CORPUS))


async def fallback(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    await Response(200, {"path": scope["path"], "size": len(message.get("body", b""))})(scope, receive, send)


async def exchange(port: int, data: bytes, rng: random.Random) -> str:
    """Send ``data`` in random pieces; how the connection ended: a status, "closed" or "reset"."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(DEADLINE):
            with contextlib.suppress(ConnectionError):
                while data:
                    size = rng.choice([1, 7, 100, 4096, len(data)])
                    writer.write(data[:size])
                    data = data[size:]
                    await writer.drain()
                    if rng.random() < 0.2:
                        await asyncio.sleep(0.005)
            received = b""
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionError:
                    return "reset"  # the answer, if any, was lost
                if not chunk:
                    if received.startswith(b"HTTP/1.1 ") or received.startswith(b"HTTP/1.0 "):
                        return received[9:12].decode()
                    assert received == b"", f"closed after a partial answer {received[:80]!r}"
                    return "closed"
                received += chunk
                if received.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
                    received = received[25:]
                # A stream (after other answers, on a kept-alive connection) stays open until
                # the client leaves: answered.
                if b"content-type: text/event-stream" in received.lower():
                    return "stream"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_fuzzed_requests_are_answered_or_closed_and_leave_nothing_behind(
    realtime: Realtime, native: Native, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    caplog.set_level(logging.ERROR, logger="tidings")
    server = await native(
        path="/api/realtime",
        fallback=fallback,
        cors_origins=["https://app.example"],
        max_header_size=8192,
        max_body=4096,
        request_timeout=REQUEST_TIMEOUT,
        # An answered connection waits this long for another request, then closes.
        keepalive_timeout=REQUEST_TIMEOUT,
    )
    steady = await RawStream.open(server.port, "/api/realtime?channel=steady")
    await steady.frames(1)
    baseline = server.stats()
    assert (baseline.connections, baseline.http_connections) == (1, 0)

    rng = random.Random(SEED)
    cases = [(case(rng), random.Random(rng.random())) for _ in range(CASES)]
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def run(data: bytes, case_rng: random.Random) -> str:
        async with limit:
            try:
                return await exchange(server.port, data, case_rng)
            except TimeoutError:
                raise AssertionError(
                    f"no answer and no close within {DEADLINE} s for {data[:200]!r}"
                ) from None

    outcomes = await asyncio.gather(*(run(data, case_rng) for data, case_rng in cases))
    # Closed without a word only when nothing was asked; anything else gets an answer.
    assert [o == "closed" for o in outcomes] == [not data for data, _ in cases]
    seen = collections.Counter(outcomes)
    print(f"{CASES} cases, seed {SEED}: {dict(sorted(seen.items()))}")
    assert "500" not in seen and "reset" not in seen
    assert {"400", "stream", "closed"} <= set(seen)  # the fuzz reached the parser, the streams, the timeout

    sent = await realtime.channel("steady").emit("n", "after the fuzz")
    assert [f.data["id"] for f in await steady.frames(1)] == [sent]
    await wait_until(
        lambda: (
            server.stats().http_connections == 0
            and server.stats().connections == baseline.connections
            and server.stats().subscriptions == baseline.subscriptions
            and not server._routes.tasks
        )
    )
    assert server.stats().backend_listeners == baseline.backend_listeners
    assert loop_errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    await steady.close()
