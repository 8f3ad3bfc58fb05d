"""Fixtures for the Redis backend's own tests: raw clients and isolated backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from tests.support.redis_server import RedisServer
from tidings.redis import RedisBackend

MakeRedisBackend = Callable[..., Awaitable[RedisBackend]]


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain synchronous redis-py client, to look at what the backend wrote."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def make_redis_backend(redis_server: RedisServer, prefix: str) -> AsyncIterator[MakeRedisBackend]:
    """Backends on the session server, in this test's namespace unless told otherwise."""
    created: list[RedisBackend] = []

    async def make(url: str | None = None, **options: Any) -> RedisBackend:
        if options.get("layout") != "upstash":
            options.setdefault("prefix", prefix)
        backend = RedisBackend(url or redis_server.url, **options)
        created.append(backend)
        return backend

    yield make
    for backend in created:
        await backend.aclose()
