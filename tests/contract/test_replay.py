"""Replay-then-live: no gap and no duplicate, resume after a cursor, slow consumers."""

from __future__ import annotations

import asyncio

import pytest

from tidings import CursorExpiredError, EventsLostError, Limits, Message

from ..support.waiting import wait_for_count, wait_until
from .conftest import MakeBackend, MakeRealtime


async def test_replay_then_live_under_a_concurrent_emitter(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("busy")
    await channel.emit_many([("n", i) for i in range(200)])
    stop = asyncio.Event()

    async def emitter() -> None:
        i = 200
        while not stop.is_set():
            await channel.emit("n", i)
            i += 1
            if i % 10 == 0:
                await asyncio.sleep(0)

    task = asyncio.create_task(emitter())
    await asyncio.sleep(0.01)
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, after="0-0")
    await asyncio.sleep(0.05)
    stop.set()
    await task
    stored = [m.id for m in await _all_history(channel)]
    await wait_for_count(got, len(stored))
    assert [m.id for m in got] == stored
    assert [m.data for m in got] == list(range(len(stored)))


async def test_history_true_replays_then_continues_without_gap(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("busy")
    await channel.emit_many([("n", i) for i in range(50)])
    stop = asyncio.Event()

    async def emitter() -> None:
        i = 50
        while not stop.is_set():
            await channel.emit("n", i)
            i += 1
            await asyncio.sleep(0)  # the memory backend's emit never suspends

    task = asyncio.create_task(emitter())
    await asyncio.sleep(0.005)
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, history=True)
    await asyncio.sleep(0.05)
    stop.set()
    await task
    stored = [m.id for m in await _all_history(channel)]
    await wait_until(lambda: bool(got) and got[-1].id == stored[-1])
    first = stored.index(got[0].id)
    assert [m.id for m in got] == stored[first:]
    assert first <= 50 + 5  # the replay started at the beginning or near the subscribe time


async def test_after_cursor_resumes_strictly_after_it(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("resume")
    ids = await channel.emit_many([("n", i) for i in range(10)])
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, after=ids[6])
    new_id = await channel.emit("n", 10)
    await wait_for_count(got, 4)
    assert [m.id for m in got] == [*ids[7:], new_id]


async def test_after_cursor_spanning_many_pages(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(history_limit=100))
    channel = realtime.channel("pages")
    ids: list[str] = []
    for start in range(0, 750, 250):
        ids += await channel.emit_many([("n", i) for i in range(start, start + 250)])
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, after="0-0")
    ids.append(await channel.emit("n", 750))
    await wait_for_count(got, 751)
    assert [m.id for m in got] == ids


async def test_after_cursor_older_than_history_raises_at_subscribe(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(max_length=3)
    channel = realtime.channel("short")
    ids = await channel.emit_many([("n", i) for i in range(6)])
    with pytest.raises(CursorExpiredError, match="short"):
        await channel.subscribe(on_data=print, after=ids[0])
    with pytest.raises(CursorExpiredError):
        async with channel.stream(after=ids[1]):
            pass
    assert realtime.backend.live_listener_count() == 0


async def test_history_limit_counts_matching_events(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(history_limit=20))
    channel = realtime.channel("noisy")
    for i in range(30):
        await channel.emit_many([("chat", i), *[("noise", i)] * 4])
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, events=["chat"], history={"limit": 10})
    # A last matching event: once it is in, anything else would have been too.
    await channel.emit("chat", "end")
    await wait_until(lambda: bool(got) and got[-1].data == "end")
    assert [m.data for m in got] == [*range(20, 30), "end"]


async def test_slow_subscriber_is_resynced_from_history_without_loss(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(subscriber_queue=8, history_limit=8))
    channel = realtime.channel("slow")
    release = asyncio.Event()
    got: list[int] = []

    async def on_data(message: Message) -> None:
        await release.wait()
        got.append(message.data)

    await channel.subscribe(on_data=on_data)
    for i in range(100):
        await channel.emit("n", i)
    release.set()
    await wait_for_count(got, 100)
    await channel.emit("n", 100)
    await wait_for_count(got, 101)
    assert got == list(range(101))


async def test_slow_subscriber_told_when_history_no_longer_covers_the_gap(
    make_realtime: MakeRealtime,
) -> None:
    realtime = await make_realtime(max_length=10, limits=Limits(subscriber_queue=5, history_limit=5))
    channel = realtime.channel("lossy")
    release = asyncio.Event()
    got: list[int] = []
    errors: list[BaseException] = []

    async def on_data(message: Message) -> None:
        await release.wait()
        got.append(message.data)

    await channel.subscribe(on_data=on_data, on_error=errors.append)
    for i in range(50):
        await channel.emit("n", i)
    release.set()
    await wait_until(lambda: bool(got) and got[-1] == 49)
    assert len(errors) == 1 and isinstance(errors[0], EventsLostError)
    # What was queued before the overflow, then everything history still held.
    assert got == sorted(got) and len(set(got)) == len(got)
    assert got[-10:] == list(range(40, 50))
    assert errors[0].resumed_from is not None


async def test_stream_raises_lost_events_without_on_error(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(max_length=4, limits=Limits(subscriber_queue=2, history_limit=2))
    channel = realtime.channel("lossy-stream")
    async with channel.stream() as messages:
        for i in range(20):
            await channel.emit("n", i)
        with pytest.raises(EventsLostError):
            async for _ in messages:
                pass


async def test_subscriber_of_another_realtime_catches_up_after_overflow(make_backend: MakeBackend) -> None:
    from tidings import Realtime

    listener = Realtime(backend=await make_backend(), limits=Limits(subscriber_queue=4, history_limit=4))
    emitter = Realtime(backend=await make_backend())
    release = asyncio.Event()
    got: list[int] = []

    async def on_data(message: Message) -> None:
        await release.wait()
        got.append(message.data)

    await listener.channel("x").subscribe(on_data=on_data)
    ids = [await emitter.channel("x").emit("n", i) for i in range(40)]
    release.set()
    await wait_for_count(got, 40)
    assert got == list(range(40))
    assert len(ids) == 40
    await listener.aclose()
    await emitter.aclose()


async def _all_history(channel: object) -> list[Message]:
    from tidings import Channel

    assert isinstance(channel, Channel)
    out: list[Message] = []
    cursor = "0-0"
    while page := await channel.history(after=cursor):
        out += page
        cursor = page[-1].id
    return out


async def test_history_replay_is_not_limited_by_a_small_queue(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(subscriber_queue=8, history_limit=200))
    channel = realtime.channel("big-replay")
    await channel.emit_many([("n", i) for i in range(150)])
    got: list[int] = []
    await channel.subscribe(on_data=lambda m: got.append(m.data), history={"limit": 120})
    await channel.emit("n", 150)
    await wait_for_count(got, 121)
    assert got == list(range(30, 151))
