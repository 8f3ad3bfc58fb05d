"""One JSON Schema (as pydantic writes it) as a zod v4 expression.

Every keyword is either mapped, known to carry no constraint (``title``...),
or reported: the expression gets a ``/* ... */`` comment and the caller a
warning, and the value is checked by the closest wider zod type. Nothing is
dropped silently.

References to definitions that are not declared yet (a recursive model) are
written so that TypeScript and zod resolve them late: inside an object, the
property becomes a getter with its type written out (zod v4's way to type
recursive objects; in a cycle of several models every reference within the
cycle is a getter, or TypeScript gives up on one of them); anywhere else the
caller wraps the definition in ``z.lazy`` and types it loosely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._jsonschema import REF_PREFIX
from ._regex import to_javascript

# Keywords that describe, but do not constrain, what a value may be.
_NO_CONSTRAINT = frozenset(
    {"title", "description", "examples", "readOnly", "writeOnly", "deprecated", "$comment", "default"}
)
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

# JSON Schema formats of strings pydantic writes, and the zod check of exactly that text.
_FORMATS = {
    # pydantic writes 2032-04-23T10:20:30.123456Z, +02:00 offsets, or no offset for a naive datetime.
    "date-time": ("z.iso.datetime({ offset: true, local: true })", "z.ZodISODateTime"),
    "date": ("z.iso.date()", "z.ZodISODate"),
    "uuid": ("z.guid()", "z.ZodGUID"),
    "uuid1": ('z.uuid({ version: "v1" })', "z.ZodUUID"),
    "uuid3": ('z.uuid({ version: "v3" })', "z.ZodUUID"),
    "uuid4": ('z.uuid({ version: "v4" })', "z.ZodUUID"),
    "uuid5": ('z.uuid({ version: "v5" })', "z.ZodUUID"),
    "binary": ("z.string()", "z.ZodString"),  # bytes, written as UTF-8 text (ser_json_bytes="utf8")
}
_UNKNOWN = ("z.unknown()", "z.ZodUnknown")


def js_key(name: str) -> str:
    """An object key as TypeScript source: bare when it is an identifier."""
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def js_value(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass
class Converted:
    code: str
    type: str
    """The TypeScript type of ``code``; a getter needs it written out to type a recursion."""
    late: set[str] = field(default_factory=set)
    """Definitions referenced here before they are declared (not yet inside a getter)."""

    def then(self, method: str, wrapper: str | None) -> Converted:
        """``code.method`` typed ``wrapper<type>`` (or the same type when ``wrapper`` is None)."""
        return Converted(
            f"{self.code}.{method}", self.type if wrapper is None else f"{wrapper}<{self.type}>", self.late
        )


class ZodWriter:
    """Converts JSON Schemas whose ``$ref``\\ s point at definitions named by ``names``."""

    def __init__(self, names: Mapping[str, str], warn: Callable[[str, str], None]) -> None:
        self._names = names  # definition key -> TypeScript constant
        self._warn = warn  # (where, what) -> None
        self.late: set[str] = set()
        """Definitions a reference must reach late: not declared yet, or in a cycle with the one written."""

    def convert(self, node: Mapping[str, Any], where: str, *, multiline: bool = False) -> Converted:
        """``node`` as zod; ``multiline`` puts an object's properties one per line (a definition)."""
        if not isinstance(node, Mapping):  # `true`/`false` schemas
            return Converted("z.unknown()", "z.ZodUnknown") if node else Converted("z.never()", "z.ZodNever")
        if "$ref" in node:
            return self._ref(node, where)
        for key in ("anyOf", "oneOf"):
            if key in node:
                return self._union(node[key], where, self._unhandled(node, {key, "discriminator"}))
        if "allOf" in node:
            return self._all_of(node, where)
        if "const" in node:
            return self._literal([node["const"]], where, self._unhandled(node, {"const", "type", "enum"}))
        if "enum" in node:
            return self._literal(node["enum"], where, self._unhandled(node, {"enum", "type"}))
        kind = node.get("type")
        if isinstance(kind, list):
            parts = [{**node, "type": one} for one in kind]
            return self._union(parts, where, [])
        if kind is None and ("properties" in node or "additionalProperties" in node):
            kind = "object"
        if kind == "object":
            return self._object(node, where, multiline)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            extra = self._unhandled(node, set())
            return self._finish(Converted(*_UNKNOWN), where, extra)  # {} is any JSON value
        return handler(self, node, where)

    # -- references and combinations ---------------------------------------------------------------

    def _ref(self, node: Mapping[str, Any], where: str) -> Converted:
        target = str(node["$ref"])
        key = target.removeprefix(REF_PREFIX)
        if not target.startswith(REF_PREFIX) or key not in self._names:
            self._warn(where, f"reference {target} is not a definition: any value accepted")
            return Converted(f"z.unknown() /* unresolved {_comment(target)} */", _UNKNOWN[1])
        name = self._names[key]
        done = Converted(name, f"typeof {name}", {key} & self.late)
        return self._finish(done, where, self._unhandled(node, {"$ref"}))

    def _union(self, options: Sequence[Any], where: str, extra: list[str]) -> Converted:
        parts = [self.convert(option, f"{where}|{index}") for index, option in enumerate(options)]
        nullable = [part for part in parts if part.code == "z.null()"]
        others = [part for part in parts if part.code != "z.null()"]
        late = set().union(*(part.late for part in parts))
        if nullable and len(others) == 1:
            done = others[0].then("nullable()", "z.ZodNullable")
        elif len(parts) == 1:
            done = parts[0]
        else:
            code = f"z.union([{', '.join(part.code for part in parts)}])"
            done = Converted(code, f"z.ZodUnion<[{', '.join(part.type for part in parts)}]>", late)
        return self._finish(done, where, extra)

    def _all_of(self, node: Mapping[str, Any], where: str) -> Converted:
        parts = [self.convert(option, f"{where}&{index}") for index, option in enumerate(node["allOf"])]
        code, kind = parts[0].code, parts[0].type
        for part in parts[1:]:
            code, kind = f"z.intersection({code}, {part.code})", f"z.ZodIntersection<{kind}, {part.type}>"
        late = set().union(*(part.late for part in parts))
        return self._finish(Converted(code, kind, late), where, self._unhandled(node, {"allOf"}))

    def _literal(self, values: Sequence[Any], where: str, extra: list[str]) -> Converted:
        if any(isinstance(value, dict | list) for value in values):
            self._warn(where, "a literal object or array has no zod literal: any value accepted")
            return Converted("z.unknown() /* literal object or array: not checked */", _UNKNOWN[1])
        listed = ", ".join(js_value(value) for value in values)
        if values and all(isinstance(value, str) for value in values):
            members = "; ".join(f"{js_key(value)}: {js_value(value)}" for value in values)
            done = Converted(f"z.enum([{listed}])", f"z.ZodEnum<{{ {members} }}>")
        elif len(values) == 1:
            done = Converted(f"z.literal({listed})", f"z.ZodLiteral<{listed}>")
        else:
            done = Converted(
                f"z.literal([{listed}])", f"z.ZodLiteral<{' | '.join(js_value(v) for v in values)}>"
            )
        return self._finish(done, where, extra)

    # -- types -------------------------------------------------------------------------------------

    def _string(self, node: Mapping[str, Any], where: str) -> Converted:
        extra = self._unhandled(node, {"type", "minLength", "maxLength", "pattern", "format"})
        fmt = node.get("format")
        code, kind = "z.string()", "z.ZodString"
        if fmt is not None:
            if fmt in _FORMATS:
                code, kind = _FORMATS[fmt]
            else:
                extra.append(f"format {fmt!r}")
        if "minLength" in node:
            code += f".min({node['minLength']})"
        if "maxLength" in node:
            code += f".max({node['maxLength']})"
        if "pattern" in node:
            translated = to_javascript(node["pattern"])
            if translated.problems:
                extra.append(f"pattern {node['pattern']!r} ({'; '.join(translated.problems)})")
            else:
                code += f'.regex(new RegExp({json.dumps(translated.source)}, "u"))'
        return self._finish(Converted(code, kind), where, extra)

    def _number(self, node: Mapping[str, Any], where: str) -> Converted:
        bounds = {"minimum": "min", "maximum": "max", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
        extra = self._unhandled(node, {"type", "multipleOf", *bounds})
        code = "z.number().int()" if node.get("type") == "integer" else "z.number()"
        for keyword, method in bounds.items():
            if keyword in node:
                code += f".{method}({js_value(node[keyword])})"
        if "multipleOf" in node:
            code += f".multipleOf({js_value(node['multipleOf'])})"
        return self._finish(Converted(code, "z.ZodNumber"), where, extra)

    def _simple(self, node: Mapping[str, Any], where: str) -> Converted:
        code, kind = {"boolean": ("z.boolean()", "z.ZodBoolean"), "null": ("z.null()", "z.ZodNull")}[
            node["type"]
        ]
        return self._finish(Converted(code, kind), where, self._unhandled(node, {"type"}))

    def _array(self, node: Mapping[str, Any], where: str) -> Converted:
        extra = self._unhandled(node, {"type", "items", "prefixItems", "minItems", "maxItems", "uniqueItems"})
        items = node.get("items", True)
        if "prefixItems" in node:
            fixed = [
                self.convert(item, f"{where}[{index}]") for index, item in enumerate(node["prefixItems"])
            ]
            late = set().union(*(part.late for part in fixed))
            listed = ", ".join(part.code for part in fixed)
            types = ", ".join(part.type for part in fixed)
            if items is False or node.get("maxItems") == len(fixed):
                code, kind = f"z.tuple([{listed}])", f"z.ZodTuple<[{types}], null>"
            else:
                rest = self.convert(items, f"{where}[]")
                late |= rest.late
                code, kind = f"z.tuple([{listed}], {rest.code})", f"z.ZodTuple<[{types}], {rest.type}>"
            if node.get("minItems", len(fixed)) != len(fixed):
                extra.append("optional tuple items")
        else:
            element = self.convert(items, f"{where}[]")
            late = element.late
            code, kind = f"z.array({element.code})", f"z.ZodArray<{element.type}>"
            if "minItems" in node:
                code += f".min({node['minItems']})"
            if "maxItems" in node:
                code += f".max({node['maxItems']})"
        if node.get("uniqueItems"):
            # A set is written as an array of distinct items; zod has no such check.
            code += (
                ".refine((items) => new Set(items.map((item) => JSON.stringify(item))).size === items.length,"
                ' { message: "items must be unique" })'
            )
        return self._finish(Converted(code, kind, late), where, extra)

    def _object(self, node: Mapping[str, Any], where: str, multiline: bool = False) -> Converted:
        allowed = {"type", "properties", "required", "additionalProperties", "propertyNames"}
        extra = self._unhandled(node, allowed)
        properties: Mapping[str, Any] = node.get("properties", {})
        more = node.get("additionalProperties")
        if not properties:
            return self._record(node, where, extra)
        required = set(node.get("required", ()))
        late: set[str] = set()
        members, types = [], []
        for name, schema in properties.items():
            value = self.convert(schema, f"{where}.{name}")
            if name not in required:
                has_default = isinstance(schema, Mapping) and "default" in schema
                # Optional on input; with a default, present in z.infer (emit stores every field).
                if has_default:
                    value = value.then(f"default({_default(schema['default'])})", "z.ZodDefault")
                else:
                    value = value.then("optional()", "z.ZodOptional")
            key = js_key(name)
            if value.late:
                # The annotation is what lets TypeScript type a recursion (zod's documented fix).
                members.append(f"get {key}(): {value.type} {{ return {value.code}; }}")
            else:
                members.append(f"{key}: {value.code}")
            types.append(f"{key}: {value.type}")
        if multiline:
            shape = "{\n" + "".join(f"  {member},\n" for member in members) + "}"
        else:
            shape = "{ " + ", ".join(members) + " }"
        shape_type = "{ " + "; ".join(types) + " }"
        if more is False:
            done = Converted(f"z.strictObject({shape})", f"z.ZodObject<{shape_type}, z.core.$strict>", late)
        elif more is True:
            done = Converted(f"z.looseObject({shape})", f"z.ZodObject<{shape_type}, z.core.$loose>", late)
        elif isinstance(more, Mapping):
            rest = self.convert(more, f"{where}.*")
            code = f"z.object({shape}).catchall({rest.code})"
            done = Converted(
                code, f"z.ZodObject<{shape_type}, z.core.$catchall<{rest.type}>>", late | rest.late
            )
        else:
            done = Converted(f"z.object({shape})", f"z.ZodObject<{shape_type}, z.core.$strip>", late)
        if "propertyNames" in node:
            extra.append("propertyNames")
        return self._finish(done, where, extra)

    def _record(self, node: Mapping[str, Any], where: str, extra: list[str]) -> Converted:
        more = node.get("additionalProperties", True)
        value = self.convert(more, f"{where}.*")
        if "propertyNames" in node:
            named = self.convert(node["propertyNames"], f"{where}.<key>")
            # partialRecord: an enum of keys must not make every key required.
            code = f"z.partialRecord({named.code}, {value.code})"
            kind = f"z.ZodRecord<{named.type} & z.core.$partial, {value.type}>"
            return self._finish(Converted(code, kind, value.late | named.late), where, extra)
        code, kind = f"z.record(z.string(), {value.code})", f"z.ZodRecord<z.ZodString, {value.type}>"
        return self._finish(Converted(code, kind, value.late), where, extra)

    # -- reporting ---------------------------------------------------------------------------------

    def _unhandled(self, node: Mapping[str, Any], handled: set[str]) -> list[str]:
        return [key for key in node if key not in handled and key not in _NO_CONSTRAINT]

    def _finish(self, done: Converted, where: str, unhandled: list[str]) -> Converted:
        if not unhandled:
            return done
        what = ", ".join(unhandled)
        self._warn(where, f"not checked by zod: {what}")
        return Converted(f"{done.code} /* not checked: {_comment(what)} */", done.type, done.late)


def _default(value: Any) -> str:
    # A function, so that a list or object default is a fresh copy on each parse.
    literal = js_value(value)
    return f"() => ({literal})" if isinstance(value, dict | list) else literal


def _comment(text: str) -> str:
    return text.replace("*/", "* /")


_HANDLERS: dict[str, Callable[[ZodWriter, Mapping[str, Any], str], Converted]] = {
    "string": ZodWriter._string,
    "integer": ZodWriter._number,
    "number": ZodWriter._number,
    "boolean": ZodWriter._simple,
    "null": ZodWriter._simple,
    "array": ZodWriter._array,
}
