from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.asgi.conftest import realtime, serve, wait_until
from tests.support.redis_server import RedisServer

__all__ = ["realtime", "redis_url", "serve", "unique_prefix", "wait_until"]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"
