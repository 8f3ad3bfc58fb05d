"""Property: whatever ``emit`` accepts, every reader returns equal data; whatever it
refuses leaves history untouched and reaches no reader.

The readers: ``history()``, a live ``stream()``, a ``subscribe`` callback, the
JSON API's ``/history`` and raw SSE frames under uvicorn (``handle()``) and
``serve_native``, and ``tidings.client`` under both. "Equal" is strict: same
JSON types (1 is not 1.0, True is not 1), same key order, -0.0 is not 0.0.
The reference is what emit stores: the JSON-mode dump of the validated value
for a typed event, the data itself for the open schema.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings

from tests.asgi.raw_http import RawStream
from tidings import InvalidInputError, Message
from tidings._ids import parse_id

from .conftest import CHANNEL, Readers, next_within
from .schemas import open_items, typed_items

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, strictly: types, key order and the sign of zero count."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return all(all_finite(item) for item in value)
    return True


async def read_everywhere(readers: Readers, event_id: str) -> dict[str, tuple[str, str, Any]]:
    """(id, event, JSON data) of event ``event_id`` from every reader.

    Streams skip older events: an example that failed halfway leaves some
    behind, and the next example must still read its own.
    """
    schema = readers.realtime.schema
    target = parse_id(event_id)

    def jsonable(message: Message) -> Any:
        declared = schema.event_type(message.event) if not schema.is_open else None
        return message.data if declared is None else declared.adapter.dump_python(message.data, mode="json")

    async def next_message(read: Callable[[], Awaitable[Message]]) -> Message:
        while parse_id((message := await next_within(read())).id) < target:
            pass
        return message

    async def next_frame(stream: RawStream) -> dict[str, Any]:
        while parse_id((frame := (await stream.frames(1))[0].data)["id"]) < target:
            pass
        return frame

    async def next_called() -> Message:
        await next_within(_wait_for(lambda: len(readers.callback) > 0))
        return readers.callback.pop(0)

    got: dict[str, tuple[str, str, Any]] = {}
    [stored] = await readers.realtime.channel(CHANNEL).history(limit=1)
    got["history()"] = (stored.id, stored.event, jsonable(stored))
    got["Message.to_dict()"] = (stored.id, stored.event, stored.to_dict()["data"])
    live = await next_message(readers.live.__anext__)
    got["stream()"] = (live.id, live.event, jsonable(live))
    called = await next_message(next_called)
    got["subscribe()"] = (called.id, called.event, jsonable(called))
    for server, stream in readers.sse.items():
        frame = await next_frame(stream)
        got[f"SSE {server}"] = (frame["id"], frame["event"], frame["data"])
    for server, client in readers.clients.items():
        message = await next_message(client.__anext__)
        got[f"tidings.client {server}"] = (message.id, message.event, message.data)
    for server, url in readers.api.items():
        response = await readers.http.get(url)
        assert response.status_code == 200, (server, response.text)
        [item] = response.json()["messages"]
        got[f"JSON API {server}"] = (item["id"], item["event"], item["data"])
    return got


async def _wait_for(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


async def check_one(readers: Readers, event: str, data: Any, reference: Any) -> None:
    channel = readers.realtime.channel(CHANNEL)
    before = [message.id for message in await channel.history()]
    try:
        event_id = await channel.emit(event, data)
    except InvalidInputError as exc:
        # Refused: nothing stored; the readers' next event (the next
        # example's) shows nothing was delivered either.
        hypothesis.event(f"refused: {type(exc).__name__}")
        assert [message.id for message in await channel.history()] == before
        return
    hypothesis.event("accepted")
    got = await read_everywhere(readers, event_id)
    expected = reference(event, data)
    wrong = {
        reader: found
        for reader, found in got.items()
        if found[0] != event_id or found[1] != event or not same(found[2], expected)
    }
    assert not wrong, (
        f"emit({event!r}, {data!r}) stored {expected!r} as {event_id}; readers differ: {wrong!r}"
    )


@PROPERTY
@given(item=typed_items)
async def test_typed_events_read_back_equal_everywhere(typed_readers: Readers, item: tuple[str, Any]) -> None:
    schema = typed_readers.realtime.schema

    def reference(event: str, data: Any) -> Any:
        declared = schema.event_type(event)
        assert declared is not None
        value = declared.adapter.validate_python(data)
        # pydantic's JSON mode itself turns an inferred NaN (an extra field,
        # an Any) into None, so the python-mode dump is where to look.
        assert all_finite(declared.adapter.dump_python(value)), "emit accepted NaN or Infinity"
        return declared.adapter.dump_python(value, mode="json")

    await check_one(typed_readers, *item, reference)


@PROPERTY
@given(item=open_items)
async def test_open_events_read_back_equal_everywhere(open_readers_: Readers, item: tuple[str, Any]) -> None:
    await check_one(open_readers_, *item, lambda event, data: data)
