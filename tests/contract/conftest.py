"""The backend contract suite runs once per backend kind listed here.

Each test gets fresh backends from ``make_backend`` / ``make_realtime``; a
backend kind that needs a server starts it here (once per session) and gives
each test its own key namespace so tests cannot see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tidings import Backend, MemoryBackend, Realtime

BACKEND_KINDS = ["memory", "redis", "cluster"]

MakeBackend = Callable[..., Awaitable[Backend]]
MakeRealtime = Callable[..., Awaitable[Realtime]]


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_backend(backend_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[MakeBackend]:
    """Make backends of the current kind that share one namespace (so they see each other)."""
    created: list[Backend] = []
    # Backends of one test share this namespace, like processes sharing channels.
    prefix = f"test:{uuid.uuid4().hex[:12]}:"

    async def make(**options: Any) -> Backend:
        backend: Backend
        if backend_kind == "memory":
            if created:
                # Memory backends cannot share state; hand out the same one.
                return created[0]
            backend = MemoryBackend(**options)
        elif backend_kind == "redis":
            from tidings.redis import RedisBackend

            server = request.getfixturevalue("redis_server")
            backend = RedisBackend(server.url, prefix=prefix, **options)
        elif backend_kind == "cluster":
            from tidings.redis import RedisClusterBackend

            cluster = request.getfixturevalue("redis_cluster")
            backend = RedisClusterBackend(cluster.url, prefix=prefix, **options)
        else:  # pragma: no cover - every kind in BACKEND_KINDS has a branch
            raise AssertionError(f"unknown backend kind {backend_kind}")
        created.append(backend)
        return backend

    yield make
    for backend in created:
        await backend.aclose()


@pytest.fixture
async def make_realtime(make_backend: MakeBackend) -> AsyncIterator[MakeRealtime]:
    created: list[Realtime] = []

    async def make(schema: Any = None, **options: Any) -> Realtime:
        realtime = Realtime(schema, backend=await make_backend(), **options)
        created.append(realtime)
        return realtime

    yield make
    for realtime in created:
        await realtime.aclose()
