"""The schema of the cross-reader property and hypothesis strategies for its data.

The strategies mix values every reader carries with the ones JSON cannot
(NaN, Infinity, integers past 64 bits, lone surrogates, non-str keys), so
each example is either refused or must read back equal everywhere.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, PlainSerializer


class Inner(BaseModel):
    x: int
    y: float


class Sensor(BaseModel):
    name: str
    readings: list[float]
    counts: dict[str, int] = {}
    spare: float | None = None
    inner: Inner | None = None


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


Stamp = Annotated[datetime, PlainSerializer(lambda moment: int(moment.timestamp()), return_type=int)]

TYPED: dict[str, Any] = {
    "f": float,
    "i": int,
    "s": str,
    "opt": float | None,
    "floats": list[float],
    "counts": dict[str, int],
    "keyed": dict[int, str],
    "sensor": Sensor,
    "any": dict[str, Any],
    "stamp": Stamp,
    "loose": Loose,
}

EDGE_INTS = [2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**400, -(10**30)]
ODD_TEXT = [
    "",
    "null",
    "NaN",
    "\u2028\u2029",
    "\x00",
    "\r\n",
    "data: x\n\nid: 1",
    "\ufeff",
    "\ufffd",
    "\ud800",
    "a\udfffb",
]

EDGE_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e16, 0.1, 5e-324, 1.7976931348623157e308, 2.0**53 + 2]
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(EDGE_FLOATS)
ints = st.integers() | st.sampled_from(EDGE_INTS)
text = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(ODD_TEXT)
keys = st.text(max_size=6) | st.sampled_from(ODD_TEXT)
scalars = st.none() | st.booleans() | floats | ints | text


def json_values(key: st.SearchStrategy[Any] = keys) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(key, children, max_size=4),
        max_leaves=10,
    )


inner = st.fixed_dictionaries({"x": ints, "y": floats})
sensor = st.fixed_dictionaries(
    {"name": text, "readings": st.lists(floats, max_size=4)},
    optional={
        "counts": st.dictionaries(keys, ints, max_size=3),
        "spare": st.none() | floats,
        "inner": st.none() | inner,
    },
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))

TYPED_DATA: dict[str, st.SearchStrategy[Any]] = {
    "f": floats | ints,
    "i": ints,
    "s": text,
    "opt": st.none() | floats,
    "floats": st.lists(floats, max_size=5),
    "counts": st.dictionaries(keys, ints, max_size=4),
    "keyed": st.dictionaries(ints, text, max_size=3),
    "sensor": sensor,
    "any": st.dictionaries(keys, json_values(), max_size=4),
    "stamp": moments,
    "loose": st.fixed_dictionaries({"name": text}, optional={"extra": json_values(), "more": floats}),
}

typed_items = st.sampled_from(sorted(TYPED_DATA)).flatmap(
    lambda event: st.tuples(st.just(event), TYPED_DATA[event])
)
open_items = st.tuples(
    st.sampled_from(["x", "job.progress"]),
    json_values() | st.dictionaries(st.integers() | st.none(), scalars, min_size=1, max_size=2),
)
