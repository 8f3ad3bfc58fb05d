from __future__ import annotations

import uuid

import pytest

from tests.asgi.conftest import realtime, serve
from tests.support.redis_server import RedisServer

__all__ = ["realtime", "redis_url", "serve", "unique_prefix"]


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"
