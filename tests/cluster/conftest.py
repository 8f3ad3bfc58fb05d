"""Fixtures for the Redis Cluster tests: private clusters for tests that break them.

The contract suite and the quieter tests share the session's ``redis_cluster``
(``tests/conftest.py``); a test that migrates slots or kills nodes starts a
cluster of its own with ``start_cluster`` so nothing it does leaks into
another test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.support.redis_cluster import RedisCluster
from tidings.redis import RedisClusterBackend

StartCluster = Callable[..., RedisCluster]
MakeClusterBackend = Callable[..., Awaitable[RedisClusterBackend]]

# A listener that comes back quickly, so a test does not wait on backoff.
QUICK = {"reconnect_delay": 0.02, "max_reconnect_delay": 0.2}


@pytest.fixture
def prefix() -> str:
    return f"c{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def start_cluster() -> Iterator[StartCluster]:
    started: list[RedisCluster] = []

    def start(primaries: int = 3, *, replicas: dict[int, int] | None = None) -> RedisCluster:
        cluster = RedisCluster(primaries, replicas=replicas)
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
async def make_cluster_backend(prefix: str) -> AsyncIterator[MakeClusterBackend]:
    """Backends in this test's namespace (on the given cluster), closed at the end."""
    created: list[RedisClusterBackend] = []

    async def make(cluster: RedisCluster, **options: Any) -> RedisClusterBackend:
        options.setdefault("prefix", prefix)
        backend = RedisClusterBackend(cluster.url, **options)
        created.append(backend)
        return backend

    yield make
    for backend in created:
        await backend.aclose()
