"""A schema covering what pydantic users write, with payloads tidings accepts and ones it refuses.

``SCHEMA`` is what the TypeScript tests generate zod from. ``ACCEPTED`` holds,
per event, Python values emit accepts (their stored JSON must pass zod);
``REFUSED`` holds JSON values pydantic refuses, one per covered constraint
(zod must refuse them too).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from typing_extensions import TypedDict


class Color(enum.Enum):
    red = "red"
    green = "green"


class Level(enum.IntEnum):
    low = 1
    high = 2


class Item(BaseModel):
    sku: Annotated[str, StringConstraints(min_length=2, max_length=8, pattern=r"^[A-Z]{2}\d+$")]
    quantity: int = Field(ge=1, le=99)


class Order(BaseModel):
    order_id: int = Field(alias="order_id", gt=0)
    items: list[Item] = Field(min_length=1, max_length=3)
    note: str | None = None
    tags: list[str] = []
    color: Color = Color.red


class Tree(BaseModel):
    label: str
    children: list[Tree] = []
    parent: Tree | None = None


class Ping(BaseModel):
    pong: Pong | None = None


class Pong(BaseModel):
    ping: Ping | None = None
    count: int


class Named(BaseModel):
    # Unicode \w in pydantic (Rust regex); it must stay Unicode in the browser.
    name: Annotated[str, StringConstraints(pattern=r"^\w+( \w+)*$", max_length=20)]


class Measure(BaseModel):
    ratio: float = Field(gt=0, lt=1)
    step: float = Field(multiple_of=0.25)
    count: int = Field(ge=-5, le=5)


class Moment(BaseModel):
    at: datetime
    day: date
    key: UUID
    price: Decimal


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int


class SerializedAlias(BaseModel):
    user_id: int = Field(serialization_alias="userId")


class ByAlias(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    user_id: int = Field(alias="userId")


class Point(TypedDict):
    x: int
    y: NotRequired[int]


@dataclass
class Size:
    width: int
    height: int = 1
    labels: list[str] = field(default_factory=list)


class Clock(BaseModel):
    at: time  # no exact zod form: checked as a string, with a warning


SCHEMA: dict[str, Any] = {
    "plain": {"s": str, "i": int, "f": float, "b": bool, "n": None},
    "literal": {"one": Literal["a", "b"], "three": Literal[3], "mixed": Literal["x", 1, True]},
    "enum": {"color": Color, "level": Level},
    "union": {"either": int | str, "maybe": int | None},
    "collection": {
        "list": list[int],
        "pair": tuple[int, str],
        "ints": tuple[int, ...],
        "set": set[int],
        "dict": dict[str, float],
        "any": dict[str, Any],
    },
    "order": Order,
    "tree": Tree,
    "ping": Ping,
    "named": Named,
    "measure": Measure,
    "moment": Moment,
    "pet": Annotated[Cat | Dog, Field(discriminator="kind")],
    "closed": Closed,
    "alias": {"serialized": SerializedAlias, "by_alias": ByAlias},
    "point": Point,
    "size": Size,
    "clock": Clock,
}

_TREE = {"label": "root", "children": [{"label": "a", "children": [{"label": "b"}]}]}

ACCEPTED: dict[str, list[Any]] = {
    "plain.s": ["", "héllo"],
    "plain.i": [0, -7, 2**53 - 1],
    "plain.f": [0.5, -1e300, 3],
    "plain.b": [True, False],
    "plain.n": [None],
    "literal.one": ["a", "b"],
    "literal.three": [3],
    "literal.mixed": ["x", 1, True],
    "enum.color": ["red", Color.green],
    "enum.level": [1, Level.high],
    "union.either": [1, "one"],
    "union.maybe": [None, 4],
    "collection.list": [[], [1, 2]],
    "collection.pair": [(1, "a")],
    "collection.ints": [(), (1, 2, 3)],
    "collection.set": [{1, 2}, [3, 3]],
    "collection.dict": [{}, {"a": 1.5}],
    "collection.any": [{"a": [1, {"b": None}]}],
    "order": [
        {"order_id": 1, "items": [{"sku": "AB1", "quantity": 1}]},
        {
            "order_id": 2,
            "items": [{"sku": "XY99", "quantity": 99}] * 3,
            "note": "n",
            "tags": ["t"],
            "color": "green",
        },
    ],
    "tree": [{"label": "leaf"}, _TREE, {"label": "c", "parent": {"label": "p"}}],
    "ping": [{}, {"pong": {"count": 1, "ping": {"pong": {"count": 2}}}}],
    "named": [{"name": "José"}, {"name": "Zoë Ångström"}, {"name": "名前"}],
    "measure": [{"ratio": 0.5, "step": 1.75, "count": -5}],
    "moment": [
        {
            "at": datetime(2026, 12, 1, 17, 13, 16, 123456, tzinfo=UTC),
            "day": date(2026, 2, 28),
            "key": UUID("12345678-1234-5678-1234-567812345678"),
            "price": Decimal("12.50"),
        },
        {
            "at": datetime(2026, 1, 1, 0, 0),
            "day": "2024-02-29",
            "key": "00000000-0000-0000-0000-000000000000",
            "price": "-0.001",
        },
        {
            "at": datetime(2026, 6, 1, 8, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "day": date(1, 1, 1),
            "key": UUID(int=2**128 - 1),
            "price": 3,
        },
    ],
    "pet": [{"kind": "cat", "lives": 9}, {"kind": "dog", "good": True}],
    "closed": [{"x": 1}],
    "alias.serialized": [{"user_id": 1}],
    "alias.by_alias": [{"userId": 2}],
    "point": [{"x": 1}, {"x": 1, "y": 2}],
    "size": [{"width": 2}, Size(3, 4, ["a"])],
    "clock": [{"at": time(10, 20, 30)}, {"at": time(10, 20, 30, 5, tzinfo=UTC)}],
}

REFUSED: dict[str, list[Any]] = {
    "plain.s": [1, None],
    "plain.i": [1.5, "x"],  # (pydantic also takes "1" and true, lax)
    "plain.f": ["x", None],
    "plain.b": ["maybe", 2],
    "plain.n": [0, ""],
    "literal.one": ["c"],
    "literal.three": [4],
    "literal.mixed": ["y", 2, False],
    "enum.color": ["blue"],
    "enum.level": [3],
    "union.either": [None, [1]],
    "union.maybe": ["x"],
    "collection.list": [[1, "a"], {}],
    "collection.pair": [[1], [1, "a", 2], ["a", 1]],
    "collection.dict": [{"a": "x"}, []],
    "order": [
        {"items": [{"sku": "AB1", "quantity": 1}]},  # order_id missing (stored by name, not alias)
        {"order_id": 0, "items": [{"sku": "AB1", "quantity": 1}]},  # gt=0
        {"order_id": 1, "items": []},  # min_length=1
        {"order_id": 1, "items": [{"sku": "AB1", "quantity": 1}] * 4},  # max_length=3
        {"order_id": 1, "items": [{"sku": "A1", "quantity": 1}]},  # pattern
        {"order_id": 1, "items": [{"sku": "AB123456789", "quantity": 1}]},  # max_length=8
        {"order_id": 1, "items": [{"sku": "AB1", "quantity": 0}]},  # ge=1
        {"order_id": 1, "items": [{"sku": "AB1", "quantity": 100}]},  # le=99
        {"order_id": 1, "items": [{"sku": "AB1", "quantity": 1}], "color": "blue"},
    ],
    "tree": [
        {"children": []},
        {"label": "a", "children": [{"label": 1}]},
        {"label": "a", "parent": {"x": 1}},
    ],
    "ping": [{"pong": {"ping": {}}}, {"pong": {"count": "x"}}],
    "named": [{"name": "José!"}, {"name": " lead"}, {"name": "a" * 21}],
    "measure": [
        {"ratio": 0, "step": 1, "count": 0},
        {"ratio": 1, "step": 1, "count": 0},
        {"ratio": 0.5, "step": 0.3, "count": 0},
        {"ratio": 0.5, "step": 1, "count": 6},
        {"ratio": 0.5, "step": 1, "count": -6},
        {"ratio": 0.5, "step": 1, "count": 1.5},
    ],
    "moment": [
        {"at": "yesterday", "day": "2026-01-01", "key": "12345678-1234-5678-1234-567812345678", "price": "1"},
        {
            "at": "2026-01-01T00:00:00Z",
            "day": "2026-13-01",
            "key": "12345678-1234-5678-1234-567812345678",
            "price": "1",
        },
        {"at": "2026-01-01T00:00:00Z", "day": "2026-01-01", "key": "not-a-uuid", "price": "1"},
    ],
    "pet": [{"kind": "cow"}, {"kind": "cat", "good": True}],
    "closed": [{"x": 1, "y": 2}],
    "point": [{"y": 1}, {"x": "x"}],
    "size": [{"height": 1}, {"width": 1, "labels": [1]}],
}
