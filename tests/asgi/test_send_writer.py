"""``SendWriter``: writable while what waits for the next ``send`` is under its byte limit."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.asgi._send_writer import SendWriter
from tidings.asgi._types import Message


class _Stream:
    """What ``carry`` needs of a stream (pure logic: no feeds, no server)."""

    def __init__(self) -> None:
        self.resumed_calls = 0

    def flush(self) -> None: ...

    def resumed(self) -> None:
        self.resumed_calls += 1

    def lost(self) -> None: ...

    def abandon(self) -> None: ...

    def abort(self) -> None: ...


async def test_writes_during_a_send_are_joined_and_refused_only_past_the_limit() -> None:
    sent: list[bytes] = []
    gate = asyncio.Event()

    async def send(message: Message) -> None:
        sent.append(message["body"])
        await gate.wait()  # the client does not read: the send waits

    async def receive() -> Message:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    writer = SendWriter(send, limit=100)
    stream: Any = _Stream()
    carrying = asyncio.create_task(writer.carry(stream, receive))
    writer.write(b"a" * 10)
    await asyncio.sleep(0)
    assert sent == [b"a" * 10]  # under way, and waiting
    # A send in progress does not make the writer refuse: a tap member keeps its place.
    writer.write(b"b" * 60)
    writer.write(b"c" * 40)
    assert writer.writable  # 100 bytes wait: at the limit, not past it
    writer.write(b"d")
    assert not writer.writable
    gate.set()
    await asyncio.sleep(0.01)
    # What waited went out in ONE send, and the writer took writes again.
    assert sent == [b"a" * 10, b"b" * 60 + b"c" * 40 + b"d"]
    assert writer.writable
    assert stream.resumed_calls == 2
    writer.abort()
    await asyncio.wait_for(carrying, 1)
    assert not writer.writable
