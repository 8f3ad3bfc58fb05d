"""Schema compilation: dotted names, any pydantic type, errors naming the path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from tidings import InvalidDataError, Realtime, SchemaError, UnknownEventError
from tidings._schema import Schema


class Point(TypedDict):
    x: int
    y: int


@dataclass
class Size:
    width: int
    height: int


class User(BaseModel):
    name: str


def test_event_names_are_dot_paths_including_top_level_leaves() -> None:
    schema = Schema({"announcement": str, "job": {"progress": int, "sub": {"deep": str}}})
    assert sorted(schema.event_names) == ["announcement", "job.progress", "job.sub.deep"]


def test_nesting_depth_of_at_least_ten() -> None:
    spec: dict[str, Any] = {"leaf": int}
    for level in range(12):
        spec = {f"l{level}": spec}
    schema = Schema(spec)
    [name] = schema.event_names
    assert name.count(".") == 12
    assert schema.encode(name, 5) == b"5"


@pytest.mark.parametrize(
    ("leaf", "good", "bad"),
    [
        (str, "hi", 5),
        (int, 5, "five"),
        (Literal["a", "b"], "a", "c"),
        (list[int], [1, 2], [1, "x"]),
        (Point, {"x": 1, "y": 2}, {"x": 1}),
        (Size, {"width": 1, "height": 2}, {"width": "wide", "height": 2}),
        (User, {"name": "ann"}, {"nom": "ann"}),
        (int | None, None, "x"),
    ],
)
def test_any_pydantic_compatible_leaf(leaf: Any, good: Any, bad: Any) -> None:
    schema = Schema({"e": leaf})
    payload = schema.encode("e", good)
    decoded = schema.decode("c", "1-0", "e", payload)
    assert schema.encode("e", decoded) == payload
    with pytest.raises(InvalidDataError, match="'e'"):
        schema.encode("e", bad)


def test_dataclass_and_model_are_parsed_back_into_their_types() -> None:
    schema = Schema({"size": Size, "user": User})
    assert schema.decode("c", "1-0", "size", schema.encode("size", Size(1, 2))) == Size(1, 2)
    assert schema.decode("c", "1-0", "user", schema.encode("user", {"name": "x"})) == User(name="x")


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({"chat": {"message": 5}}, "chat.message", "not a type"),
        ({"chat": {"message": "str"}}, "chat.message", "string, not a type"),
        ({"": str}, "", "empty name"),
        ({"chat": {"": str}}, "chat.", "empty name"),
        ({"chat.message": str}, "chat.message", "must not contain '.'"),
        ({"a": {"b c": str}}, "a.b c", "whitespace"),
        ({"chat": {}}, "chat", "empty namespace"),
        ({5: str}, "5", "must be str"),
        ({}, "", "declares no events"),
    ],
)
def test_malformed_schemas_fail_at_construction_naming_the_path(
    spec: dict[Any, Any], path: str, fragment: str
) -> None:
    with pytest.raises(SchemaError, match=fragment) as caught:
        Realtime(spec)
    assert caught.value.path == path


def test_schema_must_be_a_mapping() -> None:
    with pytest.raises(SchemaError, match="dict"):
        Realtime(["chat"])  # type: ignore[arg-type]


def test_unknown_event_lists_the_declared_ones() -> None:
    schema = Schema({"chat": {"message": str}, "user": {"joined": str}})
    with pytest.raises(UnknownEventError, match="chat.message, user.joined"):
        schema.encode("chat.messages", "x")


def test_open_schema_accepts_any_json() -> None:
    schema = Schema(None)
    assert schema.is_open
    assert schema.decode("c", "1-0", "x", schema.encode("x", {"a": [1, None]})) == {"a": [1, None]}


def test_events_outside_the_schema_are_delivered_as_plain_json() -> None:
    # An app sharing the backend may write events this schema does not know.
    schema = Schema({"known": int})
    assert schema.decode("c", "1-0", "foreign.event", b'{"k": 1}') == {"k": 1}


class Aliased(BaseModel):
    user_id: int = Field(alias="userId")


class SerializedAs(BaseModel):
    user_id: int = Field(serialization_alias="userId")


class AliasedOut(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    user_id: int = Field(alias="userId")


@pytest.mark.parametrize(
    ("model", "given", "stored_key"),
    [
        (Aliased, {"userId": 1}, "user_id"),
        (SerializedAs, {"user_id": 1}, "user_id"),
        (AliasedOut, {"userId": 1}, "userId"),
    ],
)
async def test_a_model_with_aliases_reads_back_what_emit_stored(
    model: type[BaseModel], given: dict[str, int], stored_key: str
) -> None:
    # emit stores the JSON dump (field names, unless the model serializes by
    # alias); history must read that back, or one event makes a channel unreadable.
    async with Realtime({"e": model}) as realtime:
        channel = realtime.channel("aliases")
        await channel.emit("e", given)
        (message,) = await channel.history()
    assert message.data == model.model_validate(given)
    assert message.to_dict()["data"] == {stored_key: 1}
