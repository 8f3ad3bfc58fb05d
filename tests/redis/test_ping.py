"""``RedisBackend.ping()``: the round trip behind ``/readyz``: PING, no retry, no command_timeout wait."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.redis_server import RedisServer
from tidings import BackendUnavailableError
from tidings.redis import RedisBackend

from .conftest import MakeRedisBackend


async def test_ping_answers_while_redis_does(make_redis_backend: MakeRedisBackend) -> None:
    backend = await make_redis_backend()
    async with asyncio.timeout(2):
        await backend.ping()


async def test_ping_fails_at_once_when_redis_is_gone_and_recovers_when_it_is_back() -> None:
    server = RedisServer().start()
    # A long command_timeout: ping must not wait for it (the caller's timeout rules).
    backend = RedisBackend(server.url, command_timeout=30)
    try:
        await backend.ping()
        server.kill()
        async with asyncio.timeout(2):
            with pytest.raises(BackendUnavailableError, match="PING"):
                await backend.ping()
        server.start()
        await backend.ping()
    finally:
        await backend.aclose()
        server.stop()
