"""The generated files: a TypeScript module of zod schemas, or one JSON Schema document.

Both are deterministic: definitions sorted by name (dependencies first),
events in the order the Python schema declares them, no timestamps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._jsonschema import REF_PREFIX, EventContracts, nest
from ._zod import ZodWriter, js_key

# Names a generated constant must not take: JavaScript's reserved words, and ours.
_RESERVED = frozenset(
    """break case catch class const continue debugger default delete do else enum export extends false
    finally for function if import in instanceof new null return super switch this throw true try typeof
    var void while with yield let static implements interface package private protected public await
    any boolean number string symbol object unknown never undefined z schema RealtimeEvents""".split()  # noqa: SIM905
)


@dataclass(frozen=True, slots=True)
class Generated:
    text: str
    warnings: tuple[str, ...]
    """Each part of the contract the output cannot check exactly: ``where: what``."""


def zod_module(contracts: EventContracts, header: list[str]) -> Generated:
    warnings: list[str] = []
    names = _constant_names(contracts.defs)
    writer = ZodWriter(names, lambda where, what: warnings.append(f"{where}: {what}"))
    lines = [f"// {line}" for line in header]
    lines += ["", 'import { z } from "zod";', ""]
    order = _dependency_order(contracts.defs)
    reach = {key: _reachable(contracts.defs, key) for key in order}
    for index, key in enumerate(order):
        cycle = {other for other in reach[key] if key in reach[other]}
        writer.late = set(order[index:]) | cycle
        done = writer.convert(contracts.defs[key], key, multiline=True)
        if done.late:
            # Recursive without an object in between: TypeScript cannot infer it.
            warnings.append(f"{key}: recursive outside an object, typed as unknown in TypeScript")
            lines.append(f"export const {names[key]}: z.ZodType<unknown> = z.lazy(() => {done.code});")
        else:
            lines.append(f"export const {names[key]} = {done.code};")
        lines.append("")
    writer.late = set()
    tree = _tree(nest({name: name for name in contracts.events}), contracts, writer, 0)
    lines.append(f"export const schema = {tree};")
    lines += ["", "export type RealtimeEvents = typeof schema;", ""]
    return Generated("\n".join(lines), tuple(warnings))


def json_schema_document(contracts: EventContracts, header: list[str]) -> Generated:
    document = {"$comment": " ".join(header), "$defs": contracts.defs, "schema": contracts.tree()}
    return Generated(json.dumps(document, indent=2, ensure_ascii=True) + "\n", ())


def _tree(node: Mapping[str, Any], contracts: EventContracts, writer: ZodWriter, depth: int) -> str:
    inner = "  " * (depth + 1)
    members = []
    for key, value in node.items():
        if isinstance(value, str):  # a leaf: its dotted event name
            members.append(f"{inner}{js_key(key)}: {writer.convert(contracts.events[value], value).code},")
        else:
            members.append(f"{inner}{js_key(key)}: {_tree(value, contracts, writer, depth + 1)},")
    return "{\n" + "\n".join(members) + "\n" + "  " * depth + "}"


def _constant_names(defs: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for key in defs:
        base = re.sub(r"[^A-Za-z0-9_$]", "_", key)
        if base[0].isdigit() or base in _RESERVED:
            base = f"_{base}"
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        names[key] = name
    return names


def _dependency_order(defs: Mapping[str, Any]) -> list[str]:
    """Definitions, each after those it refers to (but for cycles), ties by name."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for target in sorted(set(_refs(defs[key]))):
            if target in defs:
                visit(target)
        order.append(key)

    for key in sorted(defs):
        visit(key)
    return order


def _reachable(defs: Mapping[str, Any], start: str) -> set[str]:
    """The definitions ``start`` refers to, directly or not (itself only through a cycle)."""
    found: set[str] = set()
    pending = [start]
    while pending:
        for target in _refs(defs[pending.pop()]):
            if target in defs and target not in found:
                found.add(target)
                pending.append(target)
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref.removeprefix(REF_PREFIX)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
