"""emit: validation first, nothing stored on error, ids strictly increasing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings import (
    InvalidArgumentError,
    InvalidChannelError,
    InvalidDataError,
    Limits,
    Message,
    PayloadTooLargeError,
    UnknownEventError,
)
from tidings._ids import parse_id

from ..support.waiting import wait_for_count
from .conftest import MakeRealtime
from .schemas import SCHEMA, Progress


async def test_emit_returns_stream_style_ids_strictly_increasing(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("ids")
    ids = [await channel.emit("tick", i) for i in range(200)]
    keys = [parse_id(i) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == 200
    assert [m.id for m in await channel.history()] == ids


async def test_concurrent_emits_are_all_stored_in_id_order(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("concurrent")
    ids = await asyncio.gather(*(channel.emit("tick", i) for i in range(300)))
    history = await channel.history()
    assert sorted(ids, key=parse_id) == [m.id for m in history]


@pytest.mark.parametrize(
    ("event", "data", "error", "fragment"),
    [
        ("nope", "x", UnknownEventError, "'nope'"),
        ("job.progress", {"progress": "lots"}, InvalidDataError, "'progress'"),
        ("job.progress", {}, InvalidDataError, "'progress'"),
        ("notification.alert", 42, InvalidDataError, "notification.alert"),
        ("job", {"progress": 1}, UnknownEventError, "'job'"),
        ("tick", "not an int", InvalidDataError, "tick"),
    ],
)
async def test_invalid_emits_raise_specific_errors_and_store_nothing(
    make_realtime: MakeRealtime, event: str, data: Any, error: type[Exception], fragment: str
) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("strict")
    received: list[Message] = []
    await channel.subscribe(on_data=received.append)
    with pytest.raises(error, match=fragment):
        await channel.emit(event, data)
    await channel.emit("tick", 1)
    await wait_for_count(received, 1)
    assert [m.data for m in await channel.history()] == [1]
    assert [m.data for m in received] == [1]


async def test_invalid_data_error_names_event_and_field(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    with pytest.raises(InvalidDataError) as caught:
        await realtime.emit("chat.message", {"text": "hi"})
    assert caught.value.event == "chat.message"
    assert "field 'author'" in str(caught.value)
    assert caught.value.errors[0]["loc"] == ("author",)


async def test_model_instances_are_accepted_and_come_back_as_models(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    await realtime.emit("job.progress", Progress(progress=5))
    [message] = await realtime.history()
    assert message.data == Progress(progress=5)


async def test_data_must_be_json_serialisable_without_schema(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    with pytest.raises(InvalidDataError, match="JSON"):
        await realtime.emit("x", {"a": object()})
    assert await realtime.history() == []


async def test_payload_size_limit_is_enforced_and_configurable(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(max_payload_bytes=100))
    await realtime.emit("x", "a" * 90)
    with pytest.raises(PayloadTooLargeError, match="limit is 100 bytes") as caught:
        await realtime.emit("x", "a" * 200)
    assert caught.value.size == 202
    assert len(await realtime.history()) == 1


async def test_default_payload_limit_is_one_mebibyte(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    with pytest.raises(PayloadTooLargeError):
        await realtime.emit("big", "a" * (1024 * 1024))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("has space", "whitespace"),
        ("tab\there", "whitespace"),
        ("nul\x00", "control"),
        ("x" * 257, "limit is 256"),
    ],
)
async def test_channel_names_are_validated(make_realtime: MakeRealtime, name: str, fragment: str) -> None:
    realtime = await make_realtime(SCHEMA)
    with pytest.raises(InvalidChannelError, match=fragment):
        realtime.channel(name)


async def test_channel_name_length_is_configurable(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(max_channel_length=4))
    realtime.channel("abcd")
    with pytest.raises(InvalidChannelError, match="limit is 4"):
        realtime.channel("abcde")


async def test_unicode_and_punctuation_channel_names_work(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    for name in ("user:123", "team/α", "a{b}c", "emoji-🎉", "123"):
        await realtime.channel(name).emit("e", name)
        assert [m.data for m in await realtime.channel(name).history()] == [name]


async def test_open_schema_rejects_bad_event_names(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    with pytest.raises(InvalidArgumentError, match="event"):
        await realtime.emit("", 1)
    with pytest.raises(InvalidArgumentError, match="whitespace"):
        await realtime.emit("a b", 1)


async def test_emit_many_is_all_or_nothing(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("batch")
    ids = await channel.emit_many([("tick", 1), ("tick", 2), ("announcement", "three")])
    assert [m.id for m in await channel.history()] == ids
    with pytest.raises(InvalidDataError):
        await channel.emit_many([("tick", 4), ("tick", "five")])
    assert len(await channel.history()) == 3
    assert await channel.emit_many([]) == []


async def test_emit_many_respects_batch_limit(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(max_batch=3))
    with pytest.raises(InvalidArgumentError, match="limit is 3"):
        await realtime.channel("b").emit_many([("e", i) for i in range(4)])
