"""Stored JSON that every reader parses back equal, and the refusals that keep it so.

Readers of a stored event: ``history()`` and live subscribers (orjson for the
open schema, pydantic's JSON parser for a typed event), the SSE frames (the
stored bytes as they are), the JSON API and ``tidings.client`` (orjson), and
browsers (``JSON.parse``). What one of them cannot read back must not be
stored, or one event makes a whole channel's history unreadable. So emit
refuses, naming the field:

* NaN and +/-Infinity: JSON has no such numbers; orjson and pydantic would
  write ``null``, and a typed ``float`` field then fails to read back.
* integers outside -2**63 .. 2**64-1: orjson neither writes nor reads them
  exactly (it parses larger ones as floats, or not at all). Browsers'
  ``JSON.parse`` keeps integers exact only up to 2**53; that is documented,
  not refused.
* strings and keys with lone surrogates: not valid UTF-8 (pydantic would
  silently write a key's as U+FFFD).
* dict keys that are not strings, in the open schema (a typed
  ``dict[int, ...]`` writes its keys as strings and reads them back as ints).
* nesting deeper than the reader parses: 200 levels for a typed event
  (pydantic's JSON parser), 254 for the open schema (orjson's writer).

The checks cost little on the common path: orjson itself refuses big
integers, surrogates and non-str keys, and the walk that names the field
runs only then; NaN and Infinity always come out as ``null``, so a payload
without ``null`` holds none; a payload cannot nest deeper than it has
brackets.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import orjson
import pydantic_core
from pydantic import TypeAdapter

from ._exceptions import InvalidDataError

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
TYPED_MAX_DEPTH = 200
"""pydantic's JSON parser (jiter) refuses documents nested deeper than this."""
OPEN_MAX_DEPTH = 254
"""orjson refuses to write documents nested deeper than this."""

_RANGE = f"{INT_MIN} .. {INT_MAX} (-2**63 .. 2**64-1)"
_REPLACEMENT = "\ufffd".encode()
_PLAIN = frozenset({str, int, bool, type(None)})

Loc = tuple[Any, ...]


def dumps_open(event: str, data: Any) -> bytes:
    """``data`` of an open-schema event as JSON, or ``InvalidDataError`` naming the field.

    ``data`` is whatever the user gave: orjson also writes dataclasses, enums,
    datetimes, UUIDs... Its own depth limit (254) is the one that applies.
    """
    try:
        payload = orjson.dumps(data)
    except TypeError as exc:
        raise _refusal(event, data, OPEN_MAX_DEPTH, True, f"not JSON-serialisable: {exc}") from None
    if payload.find(b"null") >= 0 and _maybe_not_finite(data):
        # NaN and Infinity are written as null. A real None or a "null" in a
        # string lands here too; the walk then finds nothing.
        _refuse_if_found(event, data, OPEN_MAX_DEPTH, True)
    return payload


def dumps_typed(event: str, adapter: TypeAdapter[Any], value: Any, jsonable: Any, nulls: int) -> bytes:
    """A typed event's JSON-mode dump ``jsonable`` as JSON, or ``InvalidDataError`` naming the field.

    ``nulls`` (``null_check`` of the event type) says where a NaN behind a
    ``null`` would show: nowhere, in ``jsonable``, or only in the python-mode
    dump, because pydantic's JSON mode turns an inferred NaN into None.
    """
    try:
        payload = orjson.dumps(jsonable)
    except TypeError as exc:
        python = adapter.dump_python(value)
        raise _refusal(event, python, TYPED_MAX_DEPTH, False, f"not JSON-serialisable: {exc}") from None
    if (nulls and payload.find(b"null") >= 0 and (nulls == IN_PYTHON or _maybe_not_finite(jsonable))) or (
        not payload.isascii() and payload.find(_REPLACEMENT) >= 0
    ):
        # NaN and Infinity show as null; a key with a lone surrogate as U+FFFD.
        # (``find``, not ``in``: bytes.__contains__ first tries the needle as
        # an int and pays for the TypeError, doubling its cost.)
        _refuse_if_found(event, adapter.dump_python(value), TYPED_MAX_DEPTH, False)
    if len(payload) > 2 * TYPED_MAX_DEPTH and payload.count(b"[") + payload.count(b"{") > TYPED_MAX_DEPTH:
        # Only now can it nest too deep; ask the parser that reads typed events.
        try:
            pydantic_core.from_json(payload)
        except ValueError as exc:
            python = adapter.dump_python(value)
            raise _refusal(event, python, TYPED_MAX_DEPTH, False, f"not readable back: {exc}") from None
    return payload


def _maybe_not_finite(value: Any) -> bool:
    """False if plain JSON data ``value`` holds no NaN or Infinity; True if it may.

    Cheaper than ``_find``: types only, no paths. Anything but plain JSON
    types counts as "may" and goes to ``_find``.
    """
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind is float:
        return bool(value - value)  # 0.0 when finite, NaN otherwise
    else:
        return kind not in _PLAIN
    for item in items:
        kind = type(item)
        if kind is float:
            if item - item:
                return True
        elif kind is dict or kind is list or kind is tuple:
            if _maybe_not_finite(item):
                return True
        elif kind not in _PLAIN:
            return True
    return False


def _refuse_if_found(event: str, value: Any, max_depth: int, str_keys: bool) -> None:
    found = _find(value, (), 1, max_depth, str_keys)
    if found is not None:
        loc, kind, msg = found
        raise InvalidDataError(event, [{"loc": loc, "msg": msg, "type": kind}])


def _refusal(event: str, value: Any, max_depth: int, str_keys: bool, fallback: str) -> InvalidDataError:
    found = _find(value, (), 1, max_depth, str_keys)
    if found is None:
        return InvalidDataError(event, [{"loc": (), "msg": fallback, "type": "json_invalid"}])
    loc, kind, msg = found
    return InvalidDataError(event, [{"loc": loc, "msg": msg, "type": kind}])


def _find(value: Any, loc: Loc, depth: int, max_depth: int, str_keys: bool) -> tuple[Loc, str, str] | None:
    """The first value no JSON reader reads back equal: (where, error type, why).

    ``str_keys``: dict keys must be str (the open schema; pydantic writes a
    typed dict's keys as strings itself).
    """
    if isinstance(value, str):
        return _check_str(value, loc, "string")
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        shown = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
        return loc, "finite_number", f"{shown} is not allowed: JSON has no NaN or Infinity"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        return loc, "int_range", f"{_short_int(value)} is outside the JSON integer range {_RANGE}"
    if isinstance(value, enum.Enum):
        return _find(value.value, loc, depth, max_depth, str_keys)
    children = _children(value)
    if children is None:
        return None
    if depth > max_depth:
        return loc, "too_deep", f"nested deeper than {max_depth} levels, the most its readers parse"
    is_dict = isinstance(value, dict)
    for key, child in children:
        if is_dict and isinstance(key, str):
            problem = _check_str(key, (*loc, key), "key")
            if problem is not None:
                return problem
        elif is_dict and str_keys:
            kind = type(key).__name__
            return loc, "dict_key", f"key {key!r} ({kind}) is not a str; JSON object keys are strings"
        found = _find(child, (*loc, key), depth + 1, max_depth, str_keys)
        if found is not None:
            return found
    return None


def _children(value: Any) -> list[tuple[Any, Any]] | None:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return list(enumerate(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(field.name, getattr(value, field.name)) for field in dataclasses.fields(value)]
    return None


def _check_str(text: str, loc: Loc, what: str) -> tuple[Loc, str, str] | None:
    if text.isascii():
        return None
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return (
                loc,
                "string_unicode",
                (f"{what} holds a lone surrogate {char!r} at index {index}; JSON text must be valid UTF-8"),
            )
    return None


def _short_int(value: int) -> str:
    text = str(value)
    return text if len(text) <= 30 else f"an integer of {len(text.lstrip('-'))} digits"


# How ``dumps_typed`` looks for NaN and Infinity behind a ``null`` in the payload.
NO_FLOATS = 0
"""The event type holds no float: nothing to look for."""
IN_JSONABLE = 1
"""Its JSON-mode dump keeps every float as it is: look there."""
IN_PYTHON = 2
"""Something dumps by inference (``Any``, a custom serializer), turning NaN
into None: look in the python-mode dump."""

# Core-schema node types that dump in JSON mode as declared (anything else --
# ``any``, plain or wrap functions... -- dumps by inference).
_DECLARED_NODES = frozenset(
    {
        "none", "bool", "int", "float", "decimal", "str", "bytes", "date", "time", "datetime",
        "timedelta", "literal", "enum", "uuid", "url", "multi-host-url", "complex",
        "list", "tuple", "set", "frozenset", "dict", "default", "nullable", "union",
        "tagged-union", "chain", "lax-or-strict", "typed-dict", "typed-dict-field",
        "model-fields", "model-field", "model", "dataclass-args", "dataclass-field",
        "dataclass", "definitions", "definition-ref", "function-after", "function-before",
        "computed-field",
    }
)  # fmt: skip
# Parts of a core schema that hold user values or settings, not schema nodes.
_NOT_SCHEMA = frozenset({"metadata", "config", "default", "expected", "cls", "ref", "schema_ref"})


def null_check(core_schema: Any) -> int:
    """``NO_FLOATS``, ``IN_JSONABLE`` or ``IN_PYTHON`` for an event type; computed once per type."""
    if isinstance(core_schema, list):
        return max((null_check(item) for item in core_schema), default=NO_FLOATS)
    if not isinstance(core_schema, dict):
        return NO_FLOATS
    if "serialization" in core_schema or _allows_extra(core_schema):
        # A custom serializer, or extra fields (``extra="allow"``): dumped by inference.
        return IN_PYTHON
    kind = core_schema.get("type")
    if isinstance(kind, str):
        if kind not in _DECLARED_NODES:
            return IN_PYTHON
        if kind == "float" or (kind == "enum" and core_schema.get("sub_type") == "float"):
            return IN_JSONABLE
    found = (null_check(item) for key, item in core_schema.items() if key not in _NOT_SCHEMA)
    return max(found, default=NO_FLOATS)


def _allows_extra(node: dict[str, Any]) -> bool:
    config = node.get("config")
    from_config = isinstance(config, dict) and config.get("extra_fields_behavior") == "allow"
    return from_config or node.get("extra_behavior") == "allow"
