"""A Redis Cluster changing under a stream of emits: slot migration, failover.

Each test runs a cluster of its own, an emitting backend and two listening
backends (as three processes would). Midway through the stream the hot
channel's slot is migrated, or its primary is failed over. Afterwards every
subscriber must hold exactly the channel's stored history -- every event,
once, in order -- and the backend must have logged and counted what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.crc import key_slot

from tests.support.redis_cluster import Node, RedisCluster
from tests.support.waiting import wait_for_count, wait_for_sentinel, wait_until
from tidings import BackendStatus, BackendUnavailableError, Channel, Message, Realtime
from tidings._ids import parse_id
from tidings.redis import RedisClusterBackend

from .conftest import QUICK, MakeClusterBackend, StartCluster

EVENTS = 600


class Watcher:
    """One subscriber of the hot channel, in a backend of its own."""

    def __init__(self, backend: RedisClusterBackend) -> None:
        self.backend = backend
        self.realtime = Realtime(backend=backend)
        self.got: list[Message] = []
        self.problems: list[BaseException] = []

    async def start(self, channel: str) -> Watcher:
        self.subscription = await self.realtime.channel(channel).subscribe(
            on_data=self.got.append, on_error=self.problems.append
        )
        return self

    async def close(self) -> None:
        await self.realtime.aclose()


async def stream_through(emitter: Realtime, channel: str, fault: Callable[[], Awaitable[None]]) -> list[str]:
    """Emit ``EVENTS`` events to ``channel``, ``fault()`` striking after a quarter; the acknowledged ids."""
    acknowledged: list[str] = []

    async def emit_all() -> None:
        for n in range(EVENTS):
            # A failed emit may or may not have been stored: the history says.
            with contextlib.suppress(BackendUnavailableError):
                acknowledged.append(await emitter.channel(channel).emit("n", n))
            await asyncio.sleep(0.002)

    task = asyncio.create_task(emit_all())
    await wait_until(lambda: len(acknowledged) >= EVENTS // 4, what="a quarter of the stream")
    await fault()
    await task
    return acknowledged


def stored_ids(node: Node, key: str) -> list[str]:
    client = node.client()
    try:
        return [entry_id.decode() for entry_id, _ in client.xrange(key)]
    finally:
        client.close()


def hot_channel(watchers: list[Watcher]) -> Channel:
    """The channel every watcher subscribes to, for emitting into."""
    watcher = watchers[0]
    return watcher.realtime.channel(watcher.subscription.channel)


async def assert_everyone_got(watchers: list[Watcher], history: list[str]) -> None:
    for watcher in watchers:
        await wait_for_count(watcher.got, len(history), timeout=20)
    await wait_for_sentinel(hot_channel(watchers), *(watcher.got for watcher in watchers))
    for watcher in watchers:
        assert [m.id for m in watcher.got] == history
        assert watcher.subscription.status is BackendStatus.CONNECTED


def channel_on(cluster: RedisCluster, backend: RedisClusterBackend, primary: Node) -> str:
    """A channel name whose slot ``primary`` serves."""
    return next(
        name
        for name in (f"hot-{n}" for n in range(1000))
        if cluster.owner_of(backend.stream_key(name)) is primary
    )


@dataclass
class Scene:
    """A cluster, an emitting backend and two watchers of one channel on the first primary."""

    cluster: RedisCluster
    emitter_backend: RedisClusterBackend
    emitter: Realtime
    channel: str
    watchers: list[Watcher]

    @property
    def key(self) -> str:
        return self.emitter_backend.stream_key(self.channel)

    async def close(self) -> None:
        for watcher in self.watchers:
            await watcher.close()
        await self.emitter.aclose()


async def set_scene(
    start_cluster: StartCluster,
    make_cluster_backend: MakeClusterBackend,
    *,
    replicas: dict[int, int] | None = None,
    command_timeout: float = 5.0,
) -> Scene:
    cluster = start_cluster(replicas=replicas)
    emitter_backend = await make_cluster_backend(cluster, command_timeout=command_timeout)
    channel = channel_on(cluster, emitter_backend, cluster.primaries[0])
    watchers = [await Watcher(await make_cluster_backend(cluster, **QUICK)).start(channel) for _ in range(2)]
    return Scene(cluster, emitter_backend, Realtime(backend=emitter_backend), channel, watchers)


async def test_a_hot_channel_survives_its_slot_migrating(
    start_cluster: StartCluster, make_cluster_backend: MakeClusterBackend, caplog: pytest.LogCaptureFixture
) -> None:
    scene = await set_scene(start_cluster, make_cluster_backend)
    source, target = scene.cluster.primaries[0], scene.cluster.primaries[1]
    moved: list[int] = []

    async def migrate() -> None:
        # While the slot is split (the stream already on the target, the slot
        # still the source's), appends are redirected with -ASK.
        slot = key_slot(scene.key.encode())
        pause = lambda: time.sleep(0.3)  # noqa: E731
        moved.append(await asyncio.to_thread(scene.cluster.migrate_slot, slot, source, target, between=pause))

    with caplog.at_level(logging.INFO, logger="tidings.redis"):
        acknowledged = await stream_through(scene.emitter, scene.channel, migrate)
        history = stored_ids(target, scene.key)
        await assert_everyone_got(scene.watchers, history)
    assert moved == [1]
    assert scene.cluster.owner_of(scene.key) is target
    assert set(acknowledged) <= set(history) and len(acknowledged) == EVENTS
    assert scene.emitter_backend.stats()["redirects"] >= 1  # -ASK while split, -MOVED after
    for watcher in scene.watchers:
        stats = watcher.backend.stats()
        assert stats["slot_moves"] >= 1 and stats["resubscribes"] >= 1, stats
        assert stats["failovers"] == 0
        assert watcher.problems == []  # a move is not an outage: nobody is told of trouble
    assert any("moved" in record.getMessage() for record in caplog.records)
    await scene.close()


async def test_a_manual_failover_loses_nothing(
    start_cluster: StartCluster, make_cluster_backend: MakeClusterBackend, caplog: pytest.LogCaptureFixture
) -> None:
    scene = await set_scene(start_cluster, make_cluster_backend, replicas={0: 1})
    replica = scene.cluster.replicas[0][0]

    async def failover() -> None:
        await asyncio.to_thread(replica.command, "CLUSTER", "FAILOVER")

    with caplog.at_level(logging.INFO, logger="tidings.redis"):
        acknowledged = await stream_through(scene.emitter, scene.channel, failover)
        history = stored_ids(replica, scene.key)
        await assert_everyone_got(scene.watchers, history)
    assert set(acknowledged) == set(history) and len(history) == EVENTS
    assert replica.client().info("replication")["role"] == "master"
    assert_reported_failover(scene, caplog)
    # The demoted primary serves no channel any more: its Pub/Sub connections
    # are closed, though it still answers PINGs.
    demoted = scene.cluster.primaries[0]
    for watcher in scene.watchers:
        await wait_until(
            lambda w=watcher: w.backend.stats()["pubsub_connections"] == 1,  # type: ignore[misc]
            what="one Pub/Sub connection: the new primary's",
        )
    await wait_until(lambda: pubsub_clients(demoted) == 0, what="no Pub/Sub client on the demoted node")
    await scene.close()


def pubsub_clients(node: Node) -> int:
    client = node.client()
    try:
        return len(client.client_list(_type="pubsub"))
    finally:
        client.close()


async def test_a_killed_primary_is_replaced_and_listeners_catch_up(
    start_cluster: StartCluster, make_cluster_backend: MakeClusterBackend, caplog: pytest.LogCaptureFixture
) -> None:
    # Emits wait long enough to outlast the election: they stall, then go on.
    scene = await set_scene(start_cluster, make_cluster_backend, replicas={0: 1}, command_timeout=10)
    primary, replica = scene.cluster.primaries[0], scene.cluster.replicas[0][0]

    async def crash() -> None:
        primary.server.kill()

    with caplog.at_level(logging.INFO, logger="tidings.redis"):
        acknowledged = await stream_through(scene.emitter, scene.channel, crash)
        history = stored_ids(replica, scene.key)
        await assert_everyone_got_despite_async_replication(scene.watchers, history)
    # Replication is asynchronous: what the primary acknowledged in its last
    # moment may be gone; everything after the failover is there.
    assert len(set(acknowledged) - set(history)) <= 5
    assert len(history) >= EVENTS - 5
    assert_reported_failover(scene, caplog)
    for watcher in scene.watchers:
        # The outage was reported, then the feed came back.
        assert any(isinstance(p, BackendUnavailableError) for p in watcher.problems)
    await scene.close()


def assert_reported_failover(scene: Scene, caplog: pytest.LogCaptureFixture) -> None:
    for watcher in scene.watchers:
        stats = watcher.backend.stats()
        assert stats["failovers"] >= 1 and stats["resubscribes"] >= 1, stats
    assert any("failover" in record.getMessage() for record in caplog.records)


async def assert_everyone_got_despite_async_replication(watchers: list[Watcher], history: list[str]) -> None:
    """Every stored event, once, in order; plus at most the few a dying primary delivered but lost."""
    wanted = set(history)
    for watcher in watchers:
        await wait_until(
            lambda w=watcher: wanted <= {m.id for m in w.got}, timeout=30, what="the whole history"
        )
    await wait_for_sentinel(hot_channel(watchers), *(watcher.got for watcher in watchers))
    for watcher in watchers:
        ids = [m.id for m in watcher.got]
        assert [parse_id(i) for i in ids] == sorted({parse_id(i) for i in ids})  # in order, no duplicate
        assert [i for i in ids if i in wanted] == history
        assert len(ids) - len(history) <= 5
        assert watcher.subscription.status is BackendStatus.CONNECTED
