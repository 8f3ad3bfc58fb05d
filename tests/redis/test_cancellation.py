"""A call to Redis that is cancelled ends cancelled at once, even when the cancellation lands mid-read.

The router retries calls that fail as if the node were unreachable, and redis-py
drops the connection when a read is cancelled: were that cancellation taken for an
unreachable node, the cancelled task would go on until Redis answered (or
``command_timeout``) and return as if never cancelled -- a server shutting down, a
request whose client left, an ``asyncio.timeout`` around an emit would all wait on
Redis. (The presence keeper met such a swallowed cancellation, in its own loop.)

Redis is made to hold its replies with ``CLIENT PAUSE`` (a private server: the pause
would stall every other test's commands).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis

from tests.support.redis_server import RedisServer
from tidings import Channel, Realtime

PAUSE_MS = 1500


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    started = RedisServer().start()
    try:
        yield started
    finally:
        started.stop()


async def _enter(channel: Channel) -> None:
    await channel.enter("ada", {})


CALLS: dict[str, Callable[[Channel], Awaitable[object]]] = {
    "history": lambda channel: channel.history(),
    "emit": lambda channel: channel.emit("e", 2),
    "presence_count": lambda channel: channel.presence_count(),
    "enter": lambda channel: _enter(channel),
    "refresh": lambda channel: channel._realtime.backend.presence_refresh({"c": ["x"]}, ttl_ms=1000),
}


@pytest.mark.parametrize("call", list(CALLS))
async def test_a_call_cancelled_while_redis_holds_its_reply_ends_cancelled(
    server: RedisServer, call: str
) -> None:
    control = redis.Redis(host="127.0.0.1", port=server.port)
    async with Realtime(redis=f"{server.url}?command_timeout=10") as realtime:
        channel = realtime.channel("c")
        await channel.emit("e", 1)  # connected, scripts loaded
        control.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        try:
            task = asyncio.create_task(CALLS[call](channel))
            await asyncio.sleep(0.3)  # the command is sent; its reply is held
            assert not task.done()
            task.cancel()
            started = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Cancelled at once, not once Redis answered (the pause) or gave up (the timeout).
            assert time.monotonic() - started < 0.5
        finally:
            control.execute_command("CLIENT", "UNPAUSE")
            control.close()
