"""Each event's JSON contract, from pydantic's own JSON Schema, with one shared ``$defs``.

The contract is what a reader receives: emit stores pydantic's JSON-mode dump,
so the JSON Schema is generated in ``serialization`` mode and keys each field
the way that dump does -- by its name, or by its serialization alias for a
model that sets ``serialize_by_alias`` -- whatever ``by_alias`` pydantic's
generator would default to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema

from tidings._schema import Schema

REF_PREFIX = "#/$defs/"


class _AsStored(GenerateJsonSchema):
    """Keys fields as ``dump_python(mode="json")`` writes them: per model, its ``serialize_by_alias``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_alias = False

    def _keyed_by_config(self, schema: CoreSchema, generate: Any) -> JsonSchemaValue:
        config = schema.get("config") or {}
        outer = self.by_alias
        self.by_alias = bool(config.get("serialize_by_alias", False))
        try:
            result: JsonSchemaValue = generate(schema)
            return result
        finally:
            self.by_alias = outer

    def model_schema(self, schema: Any) -> JsonSchemaValue:
        return self._keyed_by_config(schema, super().model_schema)

    def dataclass_schema(self, schema: Any) -> JsonSchemaValue:
        return self._keyed_by_config(schema, super().dataclass_schema)

    def typed_dict_schema(self, schema: Any) -> JsonSchemaValue:
        return self._keyed_by_config(schema, super().typed_dict_schema)


@dataclass(frozen=True, slots=True)
class EventContracts:
    """The JSON Schema of every event, in declaration order, and the definitions they share."""

    events: dict[str, JsonSchemaValue]
    """Dotted event name -> its JSON Schema (often a ``$ref`` into ``defs``)."""
    defs: dict[str, JsonSchemaValue]
    """Definition name -> JSON Schema, sorted by name (pydantic makes the names unique)."""

    def tree(self) -> dict[str, Any]:
        """The events' JSON Schemas nested by their dotted names, as the Python schema declares them."""
        return nest({name: self.events[name] for name in self.events})


def nest(leaves: dict[str, Any]) -> dict[str, Any]:
    """``{"job.progress": x}`` as ``{"job": {"progress": x}}``, keeping the order."""
    root: dict[str, Any] = {}
    for name, leaf in leaves.items():
        *namespaces, last = name.split(".")
        node = root
        for part in namespaces:
            node = node.setdefault(part, {})
        node[last] = leaf
    return root


def event_contracts(schema: Schema) -> EventContracts:
    """The contracts of ``schema``'s events; ``ValueError`` for an open schema (nothing to describe)."""
    if schema.is_open:
        raise ValueError("the schema is open (any event name, any JSON data): there are no types to export")
    inputs: list[tuple[str, Literal["serialization"], TypeAdapter[Any]]] = []
    for name in schema.event_names:
        declared = schema.event_type(name)
        assert declared is not None  # a closed schema declares each of its names
        inputs.append((name, "serialization", declared.adapter))
    keyed, definitions = TypeAdapter.json_schemas(
        inputs, ref_template=REF_PREFIX + "{model}", schema_generator=_AsStored
    )
    defs = definitions.get("$defs", {})
    return EventContracts(
        events={name: keyed[(name, "serialization")] for name in schema.event_names},
        defs={key: defs[key] for key in sorted(defs)},
    )
