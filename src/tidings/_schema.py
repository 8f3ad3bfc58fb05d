"""Turning the user's nested schema dict into validators for dotted event names.

``{"job": {"progress": Progress}}`` declares the event ``"job.progress"``. Each
leaf is any type pydantic understands; it becomes a ``TypeAdapter`` that
validates data before it is stored and parses it back when it is delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from ._exceptions import (
    InvalidDataError,
    InvalidStoredDataError,
    SchemaError,
    UnknownEventError,
)
from ._json import dumps_open, dumps_typed, null_check
from ._message import Message, build_message

if TYPE_CHECKING:
    from ._backend import Entry

MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class EventType:
    """The validator of one declared event."""

    name: str
    adapter: TypeAdapter[Any]
    nulls: int
    """Where NaN behind a stored ``null`` would show (``_json.null_check``)."""
    to_json: Callable[[Any], Any]
    """A parsed value's JSON form, as stored (``Message.to_dict`` uses it)."""


class Schema:
    """The events a ``Realtime`` accepts; ``Schema(None)`` accepts any event name."""

    __slots__ = ("_events",)

    def __init__(self, spec: Mapping[str, Any] | None) -> None:
        self._events: dict[str, EventType] | None = None
        if spec is not None:
            if not isinstance(spec, Mapping):
                raise SchemaError("", f"must be a dict of event names, got {type(spec).__name__}")
            events: dict[str, EventType] = {}
            _collect(spec, (), events)
            if not events:
                raise SchemaError("", "declares no events")
            self._events = events

    @property
    def is_open(self) -> bool:
        """True when no schema was given: any event name, any JSON data."""
        return self._events is None

    @property
    def event_names(self) -> list[str]:
        return [] if self._events is None else list(self._events)

    def event_type(self, event: str) -> EventType | None:
        """The declared type of ``event``; None for an open schema.

        Raises ``UnknownEventError`` for a name a closed schema does not declare.
        """
        if self._events is None:
            return None
        found = self._events.get(event)
        if found is None:
            raise UnknownEventError(event, list(self._events))
        return found

    def check_events(self, events: object) -> frozenset[str] | None:
        """Validate a subscription's ``events`` filter; None means every event."""
        if events is None:
            return None
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list | tuple | set | frozenset):
            raise SchemaError("", f"events must be a list of event names, got {type(events).__name__}")
        names = frozenset(events)
        for name in names:
            if not isinstance(name, str) or not name:
                raise UnknownEventError(repr(name), self.event_names)
            self.event_type(name)
        return names

    def encode(self, event: str, data: Any) -> bytes:
        """Validate ``data`` for ``event`` and return its JSON encoding."""
        declared = self.event_type(event)
        if declared is None:
            return dumps_open(event, data)
        try:
            value = declared.adapter.validate_python(data)
        except ValidationError as exc:
            raise InvalidDataError(event, _plain_errors(exc)) from None
        try:
            # JSON mode, then orjson: pydantic would write NaN as null and
            # integers of any size; orjson refuses big ones, and dumps_typed
            # refuses everything else a reader could not read back.
            jsonable = declared.adapter.dump_python(value, mode="json")
        except (ValueError, TypeError) as exc:
            raise InvalidDataError(event, [{"loc": (), "msg": f"not JSON-serialisable: {exc}"}]) from None
        return dumps_typed(event, declared.adapter, value, jsonable, declared.nulls)

    def message(self, entry: Entry) -> Message:
        """The ``Message`` of a stored event, its data parsed into the declared type."""
        event = entry.event
        declared = None if self._events is None else self._events.get(event)
        data = _parse(declared, entry.channel, entry.id, event, entry.payload)
        return build_message(
            entry.id, event, entry.channel, data, None if declared is None else declared.to_json
        )

    def decode(self, channel: str, event_id: str, event: str, payload: bytes) -> Any:
        """Parse stored JSON back into the event's declared type."""
        declared = None if self._events is None else self._events.get(event)
        return _parse(declared, channel, event_id, event, payload)


def _parse(declared: EventType | None, channel: str, event_id: str, event: str, payload: bytes) -> Any:
    try:
        if declared is None:
            # Events outside the schema (written by another app sharing the
            # backend) are delivered as plain JSON rather than dropped.
            return orjson.loads(payload)
        # emit stores pydantic's JSON dump, which keys a field by its name
        # unless the model serializes by alias; a field declared with
        # ``alias=`` would otherwise not read back (its validator wants the alias).
        return declared.adapter.validate_json(payload, by_alias=True, by_name=True)
    except (ValidationError, orjson.JSONDecodeError) as exc:
        raise InvalidStoredDataError(channel, event_id, event, str(exc)) from None


def _collect(spec: Mapping[Any, Any], path: tuple[str, ...], out: dict[str, EventType]) -> None:
    if len(path) >= MAX_DEPTH:
        raise SchemaError(".".join(path), f"nested deeper than {MAX_DEPTH} levels")
    for key, leaf in spec.items():
        where = ".".join((*path, str(key)))
        if not isinstance(key, str):
            raise SchemaError(where, f"names must be str, got {type(key).__name__}")
        if not key:
            raise SchemaError(where, "empty name")
        if "." in key:
            raise SchemaError(where, "a name must not contain '.'; nest dicts instead")
        if any(char.isspace() or not char.isprintable() for char in key):
            raise SchemaError(where, "a name must not contain whitespace or control characters")
        if isinstance(leaf, Mapping):
            if not leaf:
                raise SchemaError(where, "empty namespace: declare at least one event in it")
            _collect(leaf, (*path, key), out)
            continue
        adapter = _adapter(where, leaf)
        to_json = partial(adapter.dump_python, mode="json")
        out[where] = EventType(where, adapter, null_check(adapter.core_schema), to_json)


def _adapter(where: str, leaf: Any) -> TypeAdapter[Any]:
    if isinstance(leaf, str):
        raise SchemaError(where, f"{leaf!r} is a string, not a type (write str, not 'str')")
    try:
        return TypeAdapter(leaf)
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaError(where, f"{leaf!r} is not a type pydantic can validate ({first_line})") from None


def _plain_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [dict(err) for err in exc.errors(include_url=False, include_context=False)]
