"""Joiners of a channel whose Pub/Sub subscription is still being set up.

A burst of streams on one new channel (every browser reconnecting after a
deploy) used to hang the whole process: a channel looked live before its
Pub/Sub connection existed, its first head read was thrown away, and a joiner
woken by the SUBSCRIBE confirmation looped on the finished head read without
ever yielding to the event loop. These tests force that interleaving, then
check a real burst.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tidings import Realtime
from tidings._ids import IdKey
from tidings.redis import RedisBackend
from tidings.redis._hub import PubSubHub
from tidings.redis._link import Link

from .conftest import MakeRedisBackend
from .test_pubsub import Recorder


def _hub(backend: RedisBackend) -> PubSubHub:
    return backend._use().hub


# The spin blocks the event loop, so no asyncio timeout can end the test:
# pytest-timeout's signal interrupts the spinning frame instead.
@pytest.mark.timeout(15)
async def test_a_joiner_woken_with_the_confirmation_does_not_spin(
    make_redis_backend: MakeRedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = await make_redis_backend(command_timeout=5.0)
    hub = _hub(backend)
    loop = asyncio.get_running_loop()
    real_read_head: Callable[[str], Awaitable[IdKey]] = hub._read_head
    reads_done: list[asyncio.Future[None]] = []
    gate: asyncio.Future[None] = loop.create_future()

    async def gated_read_head(key: str) -> IdKey:
        # The first head read, once it has its answer, waits to be released,
        # so the test decides in which loop turn it ends.
        if reads_done:
            return await real_read_head(key)
        done: asyncio.Future[None] = loop.create_future()
        reads_done.append(done)
        head = await real_read_head(key)
        done.set_result(None)
        await gate
        return head

    monkeypatch.setattr(hub, "_read_head", gated_read_head)
    joiners: list[asyncio.Task[Any]] = []

    # The second joiner arrives once the connection exists and its SUBSCRIBE
    # is due: the channel is not confirmed yet, so it waits for that. The
    # SUBSCRIBE goes out only after a head read already in flight got its
    # answer, so that read ends with the confirmation, not before.
    real_subscribe = Link.subscribe

    def subscribe_then_join(link: Link[Any], name: bytes) -> None:
        if len(joiners) == 1:
            joiners.append(loop.create_task(backend.subscribe("burst", Recorder())))
        pending = [done for done in reads_done if not done.done()]
        if not pending:
            real_subscribe(link, name)
            return

        async def later() -> None:
            await asyncio.gather(*pending)
            real_subscribe(link, name)

        joiners.append(loop.create_task(later()))

    monkeypatch.setattr(Link, "subscribe", subscribe_then_join)

    # The confirmation arrives in the same loop turn as the end of a head
    # read in flight, and the read is released first.
    real_on_subscribed = hub.on_subscribed

    def release_then_confirm(link: Link[Any], name: bytes) -> None:
        if not gate.done():
            gate.set_result(None)
        real_on_subscribed(link, name)

    monkeypatch.setattr(hub, "on_subscribed", release_then_confirm)

    joiners.append(loop.create_task(backend.subscribe("burst", Recorder())))
    async with asyncio.timeout(5):
        while len(joiners) < 2:
            await asyncio.sleep(0.001)
        first, second = await asyncio.gather(*joiners[:2])
        await asyncio.gather(*joiners[2:])
    assert first.head == second.head
    await first.close()
    await second.close()


async def test_a_channel_is_not_live_before_its_subscription_is_confirmed(
    make_redis_backend: MakeRedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = await make_redis_backend()
    hub = _hub(backend)
    seen: list[tuple[bool, bool]] = []
    real_read_head = hub._read_head

    async def observing_read_head(key: str) -> IdKey:
        state = hub._channels[key.encode()]
        link = state.link
        assert link is not None
        seen.append((link.connected, state.confirmed_in == link.generation))
        return await real_read_head(key)

    monkeypatch.setattr(hub, "_read_head", observing_read_head)
    subscription = await backend.subscribe("fresh", Recorder())
    # A head is only worth reading once Redis confirmed the SUBSCRIBE on a
    # live connection: only then is every later append sure to reach us.
    assert seen
    assert all(connected and confirmed for connected, confirmed in seen)
    await subscription.close()


@pytest.mark.parametrize("size", [200, 2000])
async def test_a_burst_of_joiners_on_a_new_channel_all_get_live(
    make_redis_backend: MakeRedisBackend, size: int
) -> None:
    for attempt in range(5):
        realtime = Realtime(backend=await make_redis_backend())
        channel = realtime.channel(f"burst-{size}-{attempt}")
        got: list[list[object]] = [[] for _ in range(size)]
        emitting = asyncio.get_running_loop().create_task(_emit_forever(channel))
        try:
            async with asyncio.timeout(20):
                unsubscribes = await asyncio.gather(
                    *(channel.subscribe(on_data=got[i].append) for i in range(size))
                )
        finally:
            emitting.cancel()
        await channel.emit("last", 1)
        async with asyncio.timeout(10):
            while not all(messages and messages[-1].event == "last" for messages in got):  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        for unsubscribe in unsubscribes:
            await unsubscribe()
        await realtime.aclose()


async def _emit_forever(channel: Any) -> None:
    count = 0
    while True:
        await channel.emit("tick", count)
        count += 1
        await asyncio.sleep(0.001)


@pytest.mark.timeout(15)
async def test_a_finished_head_read_without_a_head_is_read_again(
    make_redis_backend: MakeRedisBackend,
) -> None:
    backend = await make_redis_backend()
    hub = _hub(backend)
    subscription = await backend.subscribe("again", Recorder())
    state = hub._channels[next(iter(hub._channels))]
    assert state.live

    async def earlier_generation() -> None:
        return None  # a read for a connection that is gone: it leaves no head

    finished = asyncio.get_running_loop().create_task(earlier_generation())
    await asyncio.sleep(0)
    assert finished.done()
    # The state a joiner finds when it runs before the read's done-callback.
    state.head, state.head_task = None, finished
    async with asyncio.timeout(5):
        head = await hub._wait_live(state)
    assert head == subscription.head
    await subscription.close()
