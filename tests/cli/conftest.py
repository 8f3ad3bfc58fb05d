"""Fixtures of the CLI tests: a key prefix of their own on the session's redis-server; which server."""

from __future__ import annotations

import uuid

import pytest

from tests.support.redis_server import RedisServer

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session Redis with a unique key prefix: tests never see each other's channels."""
    return f"{redis_server.url}?prefix=cli-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=[pytest.param((), id="uvicorn"), pytest.param(("--native",), id="native")])
def flags(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The options choosing the server of ``serve``/``demo``: none for uvicorn, ``--native``."""
    return tuple(request.param)
