"""Session-wide fixtures: one real redis-server for every test that needs Redis.

It is started on a free loopback port on first use and killed at the end;
tests that need Redis give their keys a unique prefix instead of flushing, so
they can share it. Fault tests that kill Redis start their own server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-primary Redis Cluster (no replicas), shared like ``redis_server``; started on first use."""
    cluster = RedisCluster(3).start()
    try:
        yield cluster
    finally:
        cluster.stop()
