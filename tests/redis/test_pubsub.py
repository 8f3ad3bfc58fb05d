"""Live fan-out: one Pub/Sub connection per backend, costless extra listeners."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator, Sequence

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_count, wait_until
from tidings import BackendStatus, Entry, LiveSubscription, Message, Realtime, Retention
from tidings._ids import parse_id
from tidings.redis import RedisBackend

from .conftest import MakeRedisBackend


class Recorder:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def on_entries(self, entries: Sequence[Entry]) -> None:
        self.entries.extend(entries)

    def on_reset(self) -> None:
        pass

    def on_status(self, status: BackendStatus, error: BaseException | None) -> None:
        pass


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A server of its own, for tests that count every command Redis runs."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def numsub(raw: redis.Redis, name: str) -> int:
    return int(dict(raw.pubsub_numsub(name))[name.encode()])


def command_calls(raw: redis.Redis) -> dict[str, int]:
    stats = raw.info("commandstats")
    return {name: int(stat["calls"]) for name, stat in stats.items() if name != "cmdstat_info"}


async def test_one_pubsub_connection_carries_every_channel(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    name = f"tidings-test-{uuid.uuid4().hex[:8]}"
    backend = await make_redis_backend(connection_options={"client_name": name})
    realtime = Realtime(backend=backend)
    got: list[list[Message]] = [[] for _ in range(10)]
    for index in range(50):
        await realtime.channel(f"room{index % 10}").subscribe(on_data=got[index % 10].append)
    assert backend.live_listener_count() == 50
    pubsub_clients = [c for c in raw.client_list(_type="pubsub") if c["name"] == name]
    assert len(pubsub_clients) == 1
    assert pubsub_clients[0]["sub"] == "10"
    assert all(numsub(raw, f"{prefix}room{index}") == 1 for index in range(10))
    for index in range(10):
        await realtime.channel(f"room{index}").emit("hello", index)
    for messages in got:
        await wait_for_count(messages, 5)
    await realtime.aclose()
    assert backend.live_listener_count() == 0


async def test_joining_a_live_channel_costs_no_redis_command(private_redis: RedisServer) -> None:
    raw = redis.Redis.from_url(private_redis.url)
    backend = RedisBackend(private_redis.url)
    try:
        before = command_calls(raw)
        first_recorder = Recorder()
        first = await backend.subscribe("busy", first_recorder)
        after_first = command_calls(raw)
        # The first listener subscribes and reads the head (a script).
        assert after_first.get("cmdstat_subscribe", 0) == before.get("cmdstat_subscribe", 0) + 1
        (new_id,) = await backend.append("busy", [("e", b"1")], Retention())
        await wait_for_count(first_recorder.entries, 1)
        baseline = command_calls(raw)
        others: list[LiveSubscription] = []
        for _ in range(20):
            others.append(await backend.subscribe("busy", Recorder()))
        assert command_calls(raw) == baseline
        # Their head is the last id the live feed carried.
        assert {sub.head for sub in others} == {parse_id(new_id)}
        # Leaving costs nothing until the last listener goes.
        for sub in others:
            await sub.close()
        await asyncio.sleep(0.05)
        assert command_calls(raw) == baseline
        await first.close()
        await wait_until(lambda: numsub(raw, "tidings:busy") == 0, what="UNSUBSCRIBE")
    finally:
        await backend.aclose()
        raw.close()


async def test_last_listener_leaving_unsubscribes(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    sub_a = await realtime.channel("leave").subscribe(on_data=lambda m: None)
    sub_b = await realtime.channel("leave").subscribe(on_data=lambda m: None)
    assert numsub(raw, prefix + "leave") == 1
    await sub_a()
    await asyncio.sleep(0.02)
    assert numsub(raw, prefix + "leave") == 1
    await sub_b()
    await wait_until(lambda: numsub(raw, prefix + "leave") == 0, what="UNSUBSCRIBE")
    await realtime.aclose()


async def test_listeners_coming_and_going_concurrently_leave_consistent_state(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    backend = await make_redis_backend()
    channels = ["churn-a", "churn-b", "churn-c"]
    rng = random.Random(7)
    kept: dict[str, list[tuple[LiveSubscription, Recorder]]] = {c: [] for c in channels}

    async def churn(task: int) -> None:
        for _ in range(15):
            channel = rng.choice(channels)
            recorder = Recorder()
            subscription = await backend.subscribe(channel, recorder)
            await asyncio.sleep(rng.random() * 0.003)
            if task % 7 == 0 and rng.random() < 0.1:
                kept[channel].append((subscription, recorder))
            else:
                await subscription.close()

    await asyncio.gather(*(churn(task) for task in range(40)))
    listening = {c for c in channels if kept[c]}
    assert backend.live_listener_count() == sum(len(v) for v in kept.values())
    for channel in channels:
        expected = 1 if channel in listening else 0
        await wait_until(lambda c=channel, n=expected: numsub(raw, prefix + c) == n, what=channel)
    # Whatever happened before, a listener added now gets what is appended now.
    for channel in channels:
        fresh = Recorder()
        subscription = await backend.subscribe(channel, fresh)
        new_ids = await backend.append(channel, [("after-churn", b"1")], Retention())
        await wait_for_count(fresh.entries, 1)
        assert [e.id for e in fresh.entries] == new_ids
        for _, recorder in kept[channel]:
            await wait_until(lambda r=recorder, i=new_ids[0]: i in [e.id for e in r.entries])
        await subscription.close()


async def test_a_slow_listener_does_not_hold_up_others(make_redis_backend: MakeRedisBackend) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    fast: list[Message] = []
    slow: list[Message] = []

    async def crawl(message: Message) -> None:
        slow.append(message)
        await asyncio.sleep(0.05)

    await realtime.channel("mixed").subscribe(on_data=fast.append)
    await realtime.channel("mixed").subscribe(on_data=crawl)
    ids = await realtime.channel("mixed").emit_many([("e", i) for i in range(20)])
    await wait_for_count(fast, 20, timeout=2)
    assert len(slow) < 20
    await wait_for_count(slow, 20)
    assert [m.id for m in slow] == ids
    await realtime.aclose()
