"""``RedisClusterBackend.ping()``: every primary in use answers, or readiness says which did not."""

from __future__ import annotations

import asyncio

import pytest

from tidings import BackendError, Realtime
from tidings.ops import Readiness

from .conftest import MakeClusterBackend, StartCluster


async def test_every_primary_is_pinged(
    start_cluster: StartCluster, make_cluster_backend: MakeClusterBackend
) -> None:
    cluster = start_cluster(3)
    backend = await make_cluster_backend(cluster)
    async with asyncio.timeout(5):
        await backend.ping()
    # One primary gone: the channels on its slots cannot be served, so not ready.
    cluster.nodes[1].server.kill()
    with pytest.raises((BackendError, TimeoutError)):
        async with asyncio.timeout(2):
            await backend.ping()
    readiness = Readiness(Realtime(backend=backend), timeout=1)
    reason = await readiness.check()
    assert reason is not None
    assert "event backend" in reason
