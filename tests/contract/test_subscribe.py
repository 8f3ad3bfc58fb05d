"""subscribe: live on return, filters, handler errors, independence, streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings import (
    InvalidArgumentError,
    InvalidStoredDataError,
    Message,
    Realtime,
    UnknownEventError,
    UsageError,
)

from ..support.waiting import wait_for_count, wait_until
from .conftest import MakeBackend, MakeRealtime
from .schemas import SCHEMA, Progress


async def test_emit_after_subscribe_returns_is_always_delivered(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    for round_ in range(20):
        channel = realtime.channel(f"race-{round_}")
        got: list[Message] = []
        sub = await channel.subscribe(on_data=got.append)
        await channel.emit("e", round_)
        await wait_for_count(got, 1)
        await sub()


async def test_emits_from_another_realtime_reach_subscribers(make_backend: MakeBackend) -> None:
    # Two Realtime objects over one backend namespace behave like two processes.
    emitter = Realtime(SCHEMA, backend=await make_backend())
    listener = Realtime(SCHEMA, backend=await make_backend())
    got: list[Message] = []
    await listener.channel("shared").subscribe(on_data=got.append)
    ids = [await emitter.channel("shared").emit("tick", i) for i in range(50)]
    await wait_for_count(got, 50)
    assert [m.id for m in got] == ids
    await listener.aclose()
    await emitter.aclose()


async def test_subscriptions_are_independent(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("indep")
    a: list[Message] = []
    b: list[Message] = []
    sub_a = await channel.subscribe(on_data=a.append)
    await channel.subscribe(on_data=b.append, events=["tick"])
    await channel.emit("tick", 1)
    await channel.emit("announcement", "x")
    await wait_for_count(a, 2)
    await wait_for_count(b, 1)
    await sub_a()
    await channel.emit("tick", 2)
    await wait_for_count(b, 2)
    await asyncio.sleep(0.05)
    assert [m.data for m in a] == [1, "x"]
    assert [m.data for m in b] == [1, 2]


async def test_channel_unsubscribe_ends_only_that_handles_subscriptions(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    first, second = realtime.channel("same"), realtime.channel("same")
    got_first: list[Message] = []
    got_second: list[Message] = []
    await first.subscribe(on_data=got_first.append)
    await second.subscribe(on_data=got_second.append)
    await first.unsubscribe()
    await realtime.channel("same").emit("e", 1)
    await wait_for_count(got_second, 1)
    await asyncio.sleep(0.05)
    assert got_first == []


async def test_channels_are_isolated(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    got: list[Message] = []
    await realtime.channel("a").subscribe(on_data=got.append)
    await realtime.channel("b").emit("e", "for b")
    await realtime.channel("a").emit("e", "for a")
    await wait_for_count(got, 1)
    await asyncio.sleep(0.05)
    assert [m.data for m in got] == ["for a"]


async def test_handler_exception_is_reported_and_delivery_continues(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    got: list[int] = []
    errors: list[BaseException] = []

    def on_data(message: Message) -> None:
        if message.data == 2:
            raise RuntimeError("boom")
        got.append(message.data)

    await realtime.channel("c").subscribe(on_data=on_data, on_error=errors.append)
    for i in range(4):
        await realtime.channel("c").emit("e", i)
    await wait_for_count(got, 3)
    assert got == [0, 1, 3]
    assert [str(e) for e in errors] == ["boom"]


async def test_handler_exception_without_on_error_is_logged(
    make_realtime: MakeRealtime, caplog: pytest.LogCaptureFixture
) -> None:
    realtime = await make_realtime()
    got: list[int] = []

    async def on_data(message: Message) -> None:
        if message.data == 0:
            raise ValueError("bad handler")
        got.append(message.data)

    await realtime.channel("c").subscribe(on_data=on_data)
    await realtime.channel("c").emit("e", 0)
    await realtime.channel("c").emit("e", 1)
    await wait_for_count(got, 1)
    assert "bad handler" in caplog.text


async def test_async_handlers_run_one_at_a_time_in_order(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    active = 0
    order: list[int] = []

    async def on_data(message: Message) -> None:
        nonlocal active
        active += 1
        assert active == 1
        await asyncio.sleep(0.001)
        order.append(message.data)
        active -= 1

    await realtime.channel("c").subscribe(on_data=on_data)
    await realtime.channel("c").emit_many([("e", i) for i in range(30)])
    await wait_for_count(order, 30)
    assert order == list(range(30))


async def test_unsubscribe_from_inside_the_handler(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    got: list[int] = []
    holder: dict[str, Any] = {}

    async def on_data(message: Message) -> None:
        got.append(message.data)
        await holder["sub"]()

    holder["sub"] = await realtime.channel("c").subscribe(on_data=on_data)
    await realtime.channel("c").emit_many([("e", 1), ("e", 2)])
    await wait_for_count(got, 1)
    await asyncio.sleep(0.05)
    assert got == [1]


async def test_subscribe_validates_arguments(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("c")
    with pytest.raises(UnknownEventError, match="'chat.nope'"):
        await channel.subscribe(events=["chat.nope"], on_data=print)
    with pytest.raises(InvalidArgumentError, match="on_data"):
        await channel.subscribe(on_data="not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="history.end"):
        await channel.subscribe(on_data=print, history={"end": 5})
    with pytest.raises(InvalidArgumentError, match="history.bogus"):
        await channel.subscribe(on_data=print, history={"bogus": 5})
    with pytest.raises(InvalidArgumentError, match="after"):
        await channel.subscribe(on_data=print, after="yesterday")
    with pytest.raises(UsageError, match="not both"):
        await channel.subscribe(on_data=print, after="1-0", history=True)
    assert realtime.backend.live_listener_count() == 0


async def test_single_event_name_string_is_accepted_as_filter(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    got: list[Message] = []
    await realtime.channel("c").subscribe(events="tick", on_data=got.append)  # type: ignore[arg-type]
    await realtime.channel("c").emit("announcement", "no")
    await realtime.channel("c").emit("tick", 3)
    await wait_for_count(got, 1)
    assert got[0].data == 3


async def test_stream_yields_typed_messages_and_closes_with_the_block(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("job-1")
    await channel.emit("job.started", {"progress": 0})
    received: list[Message] = []

    async def produce() -> None:
        for i in range(10, 101, 10):
            await channel.emit("job.progress", {"progress": i})

    async with channel.stream(events=["job.progress", "job.started"], history=True) as messages:
        producer = asyncio.create_task(produce())
        async for message in messages:
            received.append(message)
            if message.data == Progress(progress=100):
                break
        await producer
    assert [m.data.progress for m in received] == list(range(0, 101, 10))
    assert realtime.backend.live_listener_count() == 0


async def test_stored_data_that_no_longer_matches_schema_is_reported(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    old = Realtime({"tick": str}, backend=backend)
    await old.channel("evolve").emit("tick", "not a number")
    new = Realtime({"tick": int}, backend=backend)
    with pytest.raises(InvalidStoredDataError, match="tick"):
        await new.channel("evolve").history()
    errors: list[BaseException] = []
    got: list[Message] = []
    await new.channel("evolve").subscribe(on_data=got.append, on_error=errors.append, history=True)
    await old.channel("evolve").emit("tick", "7")
    await wait_until(lambda: len(got) == 1 and len(errors) == 1)
    assert isinstance(errors[0], InvalidStoredDataError)
    assert got[0].data == 7
    await new.aclose()
    await old.aclose()
