"""emit refuses what JSON readers cannot read back: NaN/Infinity, integers beyond
64 bits, lone surrogates, non-str keys, nesting deeper than pydantic parses.

Each refusal names the event and the field, stores nothing, and the channel's
history stays readable. Values at the edge of each rule are accepted and read
back equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, PlainSerializer, TypeAdapter

from tidings import InvalidDataError, Message, Realtime
from tidings._json import IN_JSONABLE, IN_PYTHON, NO_FLOATS, null_check
from tidings._schema import Schema

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


class Sensor(BaseModel):
    name: str
    readings: list[float]
    counts: dict[str, int] = {}
    spare: float | None = None


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class Chat(BaseModel):
    text: str
    reply_to: int | None = None


SCHEMA: dict[str, Any] = {
    "f": float,
    "i": int,
    "s": str,
    "sensor": Sensor,
    "floats": list[float],
    "ints": dict[str, int],
    "maybe": float | None,
    "any": dict[str, Any],
    # A custom serializer: its output is dumped by inference (NaN -> None).
    "rounded": Annotated[float, PlainSerializer(lambda value: round(value, 2))],
    "loose": Loose,
    "chat": Chat,
}


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


REFUSED: list[tuple[str, Any, tuple[Any, ...], str]] = [
    # (event, data, loc of the offending value, fragment of the message)
    ("f", math.nan, (), "NaN"),
    ("f", math.inf, (), "Infinity"),
    ("f", -math.inf, (), "Infinity"),
    ("maybe", math.nan, (), "NaN"),
    ("floats", [1.0, 2.0, math.nan], (2,), "NaN"),
    ("sensor", {"name": "t", "readings": [0.5, 1.5, -math.inf]}, ("readings", 2), "Infinity"),
    ("sensor", {"name": "t", "readings": [], "spare": math.inf}, ("spare",), "Infinity"),
    ("any", {"deep": {"list": [1, {"x": math.nan}]}}, ("deep", "list", 1, "x"), "NaN"),
    ("rounded", math.inf, (), "Infinity"),
    ("loose", {"name": "n", "extra": [math.nan]}, ("extra", 0), "NaN"),
    ("i", 10**400, (), "-9223372036854775808 .. 18446744073709551615"),
    ("i", INT_MAX + 1, (), "-9223372036854775808 .. 18446744073709551615"),
    ("i", INT_MIN - 1, (), "-9223372036854775808 .. 18446744073709551615"),
    ("ints", {"a": 1, "b": 2**64}, ("b",), "64"),
    ("sensor", {"name": "t", "readings": [], "counts": {"n": -(2**70)}}, ("counts", "n"), "64"),
    ("any", {"big": [10**30]}, ("big", 0), "64"),
    ("s", "a\ud800b", (), "surrogate"),
    ("sensor", {"name": "\udfff", "readings": []}, ("name",), "surrogate"),
    ("any", {"k\ud800": 1}, ("k\ud800",), "surrogate"),
    ("any", {"deep": nested(210)}, ("deep", *([0] * 199)), "200 levels"),
]


def short(value: object) -> str:
    return repr(value)[:24]


@pytest.mark.parametrize(("event", "data", "loc", "fragment"), REFUSED, ids=short)
async def test_typed_emit_refuses_what_json_cannot_carry(
    event: str, data: Any, loc: tuple[Any, ...], fragment: str
) -> None:
    realtime = Realtime(SCHEMA)
    channel = realtime.channel("c")
    await channel.emit("f", 1.5)
    with pytest.raises(InvalidDataError, match=fragment) as caught:
        await channel.emit(event, data)
    assert caught.value.event == event
    assert [err["loc"] for err in caught.value.errors] == [loc]
    assert f"event {event!r}" in str(caught.value)
    # Nothing stored, and the channel is still readable.
    assert [m.data for m in await channel.history()] == [1.5]
    await realtime.aclose()


OPEN_REFUSED: list[tuple[Any, tuple[Any, ...], str]] = [
    (math.nan, (), "NaN"),
    ({"readings": [0.1, math.inf]}, ("readings", 1), "Infinity"),
    ([{"a": -math.inf}], (0, "a"), "Infinity"),
    ((1.0, math.nan), (1,), "NaN"),
    (10**400, (), "-9223372036854775808 .. 18446744073709551615"),
    ({"n": [1, INT_MAX + 1]}, ("n", 1), "64"),
    ({"n": INT_MIN - 1}, ("n",), "64"),
    ("\ud800", (), "surrogate"),
    ({"a": ["ok", "x\udc00"]}, ("a", 1), "surrogate"),
    ({"a": {1: "one"}}, ("a",), "key 1"),
    ({None: 1}, (), "key None"),
    (nested(300), tuple([0] * 254), "254 levels"),
]


@pytest.mark.parametrize(("data", "loc", "fragment"), OPEN_REFUSED, ids=short)
async def test_open_emit_refuses_what_json_cannot_carry(
    data: Any, loc: tuple[Any, ...], fragment: str
) -> None:
    realtime = Realtime()
    channel = realtime.channel("c")
    with pytest.raises(InvalidDataError, match=fragment) as caught:
        await channel.emit("x", data)
    assert caught.value.event == "x"
    assert [err["loc"] for err in caught.value.errors] == [loc]
    assert await channel.history() == []
    await realtime.aclose()


@dataclass
class Point:
    x: float
    y: float


async def test_open_emit_finds_nan_inside_dataclasses() -> None:
    realtime = Realtime()
    with pytest.raises(InvalidDataError, match="NaN") as caught:
        await realtime.emit("x", {"points": [Point(1, 2), Point(3, math.nan)]})
    assert caught.value.errors[0]["loc"] == ("points", 1, "y")
    await realtime.aclose()


ACCEPTED: list[tuple[str, Any, Any]] = [
    # (event, data, what every reader gets back as JSON)
    ("i", INT_MAX, INT_MAX),
    ("i", INT_MIN, INT_MIN),
    ("f", 1.7976931348623157e308, 1.7976931348623157e308),
    ("f", -0.0, -0.0),
    ("f", 5e-324, 5e-324),
    ("maybe", None, None),
    ("s", "null NaN Infinity \u2028 \x00 \U0001f600", "null NaN Infinity \u2028 \x00 \U0001f600"),
    ("any", {"deep": nested(198)}, {"deep": nested(198)}),
    ("any", {"k\ufffd": None, "v": ["\ufffd", "null"]}, {"k\ufffd": None, "v": ["\ufffd", "null"]}),
    ("rounded", 1.256, 1.26),
    ("loose", {"name": "n", "extra": None}, {"name": "n", "extra": None}),
    ("chat", {"text": "null"}, {"text": "null", "reply_to": None}),
    (
        "sensor",
        {"name": "null", "readings": [1e16], "spare": None},
        {"name": "null", "readings": [1e16], "counts": {}, "spare": None},
    ),
]


@pytest.mark.parametrize(("event", "data", "expected"), ACCEPTED, ids=short)
async def test_edge_values_are_accepted_and_read_back(event: str, data: Any, expected: Any) -> None:
    realtime = Realtime(SCHEMA)
    channel = realtime.channel("c")
    await channel.emit(event, data)
    [message] = await channel.history()
    declared = realtime.schema.event_type(event)
    assert declared is not None
    stored = declared.adapter.dump_python(message.data, mode="json")
    assert stored == expected
    assert repr(stored) == repr(expected)  # -0.0 stays -0.0
    assert orjson.loads(orjson.dumps(stored)) == stored
    await realtime.aclose()


async def test_open_edges_are_accepted_and_read_back() -> None:
    realtime = Realtime()
    data = {"max": INT_MAX, "min": INT_MIN, "none": None, "text": "null", "deep": nested(250)}
    await realtime.emit("x", data)
    [message] = await realtime.history()
    assert message.data == data
    await realtime.aclose()


async def test_emit_many_refuses_the_whole_batch() -> None:
    realtime = Realtime(SCHEMA)
    channel = realtime.channel("c")
    with pytest.raises(InvalidDataError, match="'floats'") as caught:
        await channel.emit_many([("f", 1.0), ("floats", [math.nan]), ("f", 2.0)])
    assert caught.value.errors[0]["loc"] == (0,)
    assert await channel.history() == []
    await realtime.aclose()


def test_schema_encode_and_decode_agree_at_the_limits() -> None:
    schema = Schema(SCHEMA)
    for value in (INT_MIN, INT_MAX, 0, -1):
        assert schema.decode("c", "1-0", "i", schema.encode("i", value)) == value
    with pytest.raises(InvalidDataError):
        schema.encode("i", INT_MAX + 1)


async def test_to_dict_gives_the_stored_json_of_a_custom_serializer() -> None:
    # Message.to_dict (the JSON API's /history, `tidings history`) must give
    # what the SSE frames carry, not the parsed value re-dumped by inference.
    stamp = Annotated[datetime, PlainSerializer(lambda moment: int(moment.timestamp()), return_type=int)]
    realtime = Realtime({"stamp": stamp})
    await realtime.emit("stamp", datetime(2000, 1, 1, tzinfo=UTC))
    [message] = await realtime.history()
    assert message.data == datetime(2000, 1, 1, tzinfo=UTC)
    assert message.to_dict()["data"] == 946684800
    assert message == Message(message.id, "stamp", "default", datetime(2000, 1, 1, tzinfo=UTC))
    await realtime.aclose()


@pytest.mark.parametrize(
    ("leaf", "where"),
    [
        (Chat, NO_FLOATS),
        (list[int], NO_FLOATS),
        (float, IN_JSONABLE),
        (Sensor, IN_JSONABLE),
        (dict[str, Any], IN_PYTHON),
        (Loose, IN_PYTHON),
        (Annotated[float, PlainSerializer(lambda value: value)], IN_PYTHON),
    ],
)
def test_where_a_nan_behind_null_would_show(leaf: Any, where: int) -> None:
    # A wrong NO_FLOATS or IN_JSONABLE would let a NaN through as null.
    assert null_check(TypeAdapter(leaf).core_schema) == where
