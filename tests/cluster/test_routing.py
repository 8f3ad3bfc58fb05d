"""Where channels live on a Redis Cluster, and what reaches which node."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_count, wait_until
from tidings import InvalidArgumentError, Message, Realtime, UsageError
from tidings.redis import RedisBackend, RedisClusterBackend
from tidings.redis._config import parse_cluster_url

from .conftest import MakeClusterBackend

# -- keys ------------------------------------------------------------------------------------


def test_the_whole_channel_name_is_the_hash_tag() -> None:
    backend = RedisClusterBackend("redis+cluster://127.0.0.1:7000", prefix="app:")
    assert backend.stream_key("orders") == "app:{orders}"
    assert key_slot(b"app:{orders}") == key_slot(b"orders")
    # A '}' cannot end the tag early: "a}1" and "a}2" get slots of their own...
    assert backend.stream_key("a}1") == "app:{a%7D1}"
    assert key_slot(backend.stream_key("a}1").encode()) == key_slot(b"a%7D1")
    assert key_slot(backend.stream_key("a}1").encode()) != key_slot(backend.stream_key("a}2").encode())
    # ...and the escape itself is escaped, so no two channels share a key.
    names = ["a}1", "a%7D1", "a%257D1", "{x}", "x}", "%", "", "a{b}c", "ünï}cödé"]
    keys = [backend.stream_key(name) for name in names]
    assert len(set(keys)) == len(names)
    for name, key in zip(names, keys, strict=True):
        assert key.startswith("app:{") and key.endswith("}") and key.count("}") == 1, (name, key)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: RedisClusterBackend("redis+cluster://h:1", layout="upstash"),
            "not available on a Redis Cluster",
        ),  # type: ignore[arg-type]
        (
            lambda: RedisClusterBackend("redis+cluster://h:1?layout=upstash"),
            "not available on a Redis Cluster",
        ),
        (lambda: RedisClusterBackend("redis+cluster://h:1", prefix="app{1}:"), "hash tag"),
        (lambda: RedisClusterBackend("redis+cluster://h:1/3"), "only database 0"),
        (lambda: RedisClusterBackend("redis+cluster://h:notaport"), "bad Redis Cluster node"),
        (lambda: RedisClusterBackend("redis+cluster://"), "names no Redis Cluster node"),
        (lambda: RedisClusterBackend("http://h:1"), "unsupported scheme"),
        (lambda: RedisClusterBackend(), "one of them"),
        (lambda: RedisClusterBackend(nodes="h:1"), "list of 'host:port'"),
        (lambda: RedisBackend("redis+cluster://h:1"), "RedisClusterBackend"),
    ],
)
def test_what_a_cluster_cannot_do_is_refused_clearly(make: Any, message: str) -> None:
    with pytest.raises((InvalidArgumentError, UsageError), match=message):
        make()


def test_cluster_urls() -> None:
    target = parse_cluster_url(
        "rediss+cluster://user:pw@10.0.0.1:7000,[::1]:7001,node3/0?prefix=a:&ssl_cert_reqs=none"
    )
    assert target.nodes == [("10.0.0.1", 7000), ("::1", 7001), ("node3", 6379)]
    assert target.prefix == "a:"
    assert target.url_of("10.0.0.9", 7005) == "rediss://user:pw@10.0.0.9:7005/0?ssl_cert_reqs=none"
    assert target.url_of("::2", 7005) == "rediss://user:pw@[::2]:7005/0?ssl_cert_reqs=none"
    backend = RedisClusterBackend(nodes=["10.0.0.1:7000", "10.0.0.2:7000"])
    assert backend.startup_nodes == ["10.0.0.1:7000", "10.0.0.2:7000"]
    assert isinstance(Realtime(redis="redis+cluster://10.0.0.1:7000").backend, RedisClusterBackend)
    assert isinstance(Realtime(redis="redis://10.0.0.1:7000").backend, RedisBackend)


# -- on the cluster --------------------------------------------------------------------------


def names_by_primary(
    cluster: RedisCluster, backend: RedisClusterBackend, per_node: int
) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {node.port: [] for node in cluster.primaries}
    for n in range(10_000):
        name = f"room-{n}"
        port = cluster.owner_of(backend.stream_key(name)).port
        if len(found[port]) < per_node:
            found[port].append(name)
        if all(len(names) == per_node for names in found.values()):
            return found
    raise AssertionError("could not spread channels over every primary")


async def test_one_reader_per_primary_and_messages_stay_in_their_shard(
    redis_cluster: RedisCluster, make_cluster_backend: MakeClusterBackend
) -> None:
    client_name = f"tidings-test-{uuid.uuid4().hex[:8]}"
    backend = await make_cluster_backend(redis_cluster, connection_options={"client_name": client_name})
    realtime = Realtime(backend=backend)
    spread = names_by_primary(redis_cluster, backend, per_node=4)
    got: dict[str, list[Message]] = {}
    for names in spread.values():
        for name in names:
            got[name] = []
            await realtime.channel(name).subscribe(on_data=got[name].append)
    assert backend.stats()["pubsub_connections"] == len(redis_cluster.primaries)
    before = {node.port: node.client().info("commandstats") for node in redis_cluster.primaries}
    for name in got:
        await realtime.channel(name).emit("hello", name)
    for name, messages in got.items():
        await wait_for_count(messages, 1)
        assert [m.data for m in messages] == [name]
    for node in redis_cluster.primaries:
        client = node.client()
        mine = [c for c in client.client_list(_type="pubsub") if c["name"] == client_name]
        assert len(mine) == 1 and mine[0]["ssub"] == "4", mine  # one connection, its own 4 channels
        stats = client.info("commandstats")
        # Each emit is one script call on the owner, publishing in its shard only.
        spublish = stats["cmdstat_spublish"]["calls"] - before[node.port].get("cmdstat_spublish", {}).get(
            "calls", 0
        )
        assert spublish == 4
        assert "cmdstat_publish" not in stats
        client.close()
    await realtime.aclose()


async def test_concurrent_emits_to_one_node_are_coalesced(
    redis_cluster: RedisCluster, make_cluster_backend: MakeClusterBackend
) -> None:
    backend = await make_cluster_backend(redis_cluster)
    realtime = Realtime(backend=backend)
    names = names_by_primary(redis_cluster, backend, per_node=5)
    port, local = next(iter(names.items()))
    node = next(n for n in redis_cluster.primaries if n.port == port)
    await realtime.channel(local[0]).emit("warm", 0)  # connects the writer
    client = node.client()
    before = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    ids = await asyncio.gather(*(realtime.channel(local[n % 5]).emit("e", n) for n in range(200)))
    calls = client.info("commandstats")["cmdstat_evalsha"]["calls"] - before
    client.close()
    assert len({(n % 5, new_id) for n, new_id in enumerate(ids)}) == 200
    assert calls < 200  # merged per channel, pipelined per node
    await realtime.aclose()


async def test_a_stale_slot_map_is_corrected_by_moved(
    redis_cluster: RedisCluster, make_cluster_backend: MakeClusterBackend, prefix: str
) -> None:
    backend = await make_cluster_backend(redis_cluster)
    realtime = Realtime(backend=backend)
    first = await realtime.channel("wanderer").emit("e", 1)
    key = backend.stream_key("wanderer")
    source = redis_cluster.owner_of(key)
    target = next(node for node in redis_cluster.primaries if node is not source)
    await asyncio.to_thread(redis_cluster.migrate_slot, key_slot(key.encode()), source, target)
    # The backend still believes the source serves the slot: reads and emits
    # get -MOVED and go on to the target.
    assert [m.id for m in await realtime.channel("wanderer").history()] == [first]
    second = await realtime.channel("wanderer").emit("e", 2)
    assert [m.id for m in await realtime.channel("wanderer").history()] == [first, second]
    assert backend.stats()["redirects"] >= 1
    await wait_until(lambda: backend.stats()["topology_refreshes"] >= 1, what="the map re-read")
    await realtime.aclose()


async def test_single_node_stats_count_a_reconnect(redis_server: RedisServer, prefix: str) -> None:
    backend = RedisBackend(redis_server.url, prefix=prefix, reconnect_delay=0.02)
    realtime = Realtime(backend=backend)
    got: list[Message] = []
    await realtime.channel("s").subscribe(on_data=got.append, on_error=lambda e: None)
    assert backend.stats()["reconnects"] == 0 and backend.stats()["pubsub_connections"] == 1
    client = redis.Redis.from_url(redis_server.url)
    client.client_kill_filter(_type="pubsub")
    client.close()
    await wait_until(lambda: backend.stats()["reconnects"] == 1, what="a reconnect")
    assert backend.stats()["resubscribes"] == 1
    await realtime.channel("s").emit("e", 1)
    await wait_for_count(got, 1)
    await realtime.aclose()
    await backend.aclose()
