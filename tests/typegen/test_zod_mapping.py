"""The pure conversion: each JSON Schema construct pydantic writes, and the zod source it becomes.

The real tools check the same output in test_typescript.py (tsc, node); these
pin the mapping itself, one construct at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import UUID4, BaseModel, ConfigDict, Field, StringConstraints
from typing_extensions import TypeAliasType, TypedDict

from tidings._schema import Schema
from tidings.typegen import Generated, generate
from tidings.typegen._regex import to_javascript
from tidings.typegen._zod import ZodWriter


def zod_of(leaf: Any) -> Generated:
    return generate(Schema({"e": leaf}), format="zod", source="m:s", version="9.9.9")


def leaf_code(leaf: Any) -> str:
    """The zod expression of the one event ``e`` (its definitions inlined by name)."""
    text = zod_of(leaf).text
    return text.split("export const schema = {\n  e: ", 1)[1].split(",\n}", 1)[0]


def definition(leaf: Any, name: str) -> str:
    """A definition's zod expression, its properties joined on one line as ``{ a, b }``."""
    text = zod_of(leaf).text
    start = text.index(f"export const {name} = ") + len(f"export const {name} = ")
    code = text[start : text.index(";\n\n", start)]
    return code.replace("{\n  ", "{ ").replace(",\n  ", ", ").replace(",\n}", " }")


class Color(enum.Enum):
    red = "red"
    blue = "blue"


@pytest.mark.parametrize(
    ("leaf", "code"),
    [
        (str, "z.string()"),
        (int, "z.number().int()"),
        (float, "z.number()"),
        (bool, "z.boolean()"),
        (None, "z.null()"),
        (Any, "z.unknown()"),
        (Literal["a", "b"], 'z.enum(["a", "b"])'),
        (Literal[3], "z.literal(3)"),
        (Literal["a", 1, None], 'z.literal(["a", 1, null])'),
        (int | str, "z.union([z.number().int(), z.string()])"),
        (int | None, "z.number().int().nullable()"),
        (int | str | None, "z.union([z.number().int(), z.string(), z.null()])"),
        (list[int], "z.array(z.number().int())"),
        (tuple[int, str], "z.tuple([z.number().int(), z.string()])"),
        (tuple[int, ...], "z.array(z.number().int())"),
        (dict[str, float], "z.record(z.string(), z.number())"),
        (dict[str, Any], "z.record(z.string(), z.unknown())"),
        (datetime, "z.iso.datetime({ offset: true, local: true })"),
        (date, "z.iso.date()"),
        (UUID, "z.guid()"),
        (UUID4, 'z.uuid({ version: "v4" })'),
        (Decimal, "z.string()"),  # pydantic writes a Decimal as a string in JSON
        (bytes, "z.string()"),
        (Annotated[str, StringConstraints(min_length=1, max_length=5)], "z.string().min(1).max(5)"),
        (Annotated[int, Field(ge=0, le=9)], "z.number().int().min(0).max(9)"),
        (Annotated[float, Field(gt=0, lt=1)], "z.number().gt(0).lt(1)"),
        (Annotated[float, Field(multiple_of=0.5)], "z.number().multipleOf(0.5)"),
        (Annotated[list[int], Field(min_length=1, max_length=3)], "z.array(z.number().int()).min(1).max(3)"),
        (
            Annotated[str, StringConstraints(pattern=r"^[a-z]+$")],
            'z.string().regex(new RegExp("^[a-z]+$", "u"))',
        ),
    ],
)
def test_leaf_mapping(leaf: Any, code: str) -> None:
    generated = zod_of(leaf)
    assert leaf_code(leaf) == code
    assert generated.warnings == ()


def test_a_set_is_an_array_of_distinct_items() -> None:
    code = leaf_code(set[int])
    assert code.startswith("z.array(z.number().int()).refine((items) => new Set(")
    assert '{ message: "items must be unique" })' in code


def test_enum_is_a_definition() -> None:
    assert leaf_code(Color) == "Color"
    assert definition(Color, "Color") == 'z.enum(["red", "blue"])'


class Item(BaseModel):
    name: str
    note: str | None = None
    tags: list[str] = []
    size: int = Field(default_factory=lambda: 1)


def test_model_fields_defaults_and_optionals() -> None:
    # Emit stores every field, so a default is a .default() (present in z.infer);
    # a default_factory has no JSON default: optional.
    assert definition(Item, "Item") == (
        "z.object({ name: z.string(), note: z.string().nullable().default(null), "
        "tags: z.array(z.string()).default(() => ([])), size: z.number().int().optional() })"
    )


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    x: int


def test_extra_forbid_is_strict_and_extra_allow_is_loose() -> None:
    assert definition(Closed, "Closed") == "z.strictObject({ x: z.number().int() })"
    assert definition(Open, "Open") == "z.looseObject({ x: z.number().int() })"


class Aliased(BaseModel):
    user_id: int = Field(alias="userId")


class OutByAlias(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    user_id: int = Field(alias="userId")
    other: Aliased


def test_keys_are_what_emit_stores() -> None:
    # pydantic's dump keys fields by name unless the model serializes by alias;
    # its JSON Schema generator would use the alias either way.
    assert definition(Aliased, "Aliased") == "z.object({ user_id: z.number().int() })"
    assert definition(OutByAlias, "OutByAlias") == "z.object({ userId: z.number().int(), other: Aliased })"


class Point(TypedDict, total=False):
    x: int


@dataclass
class Size:
    width: int
    labels: list[str] = field(default_factory=list)


def test_typed_dict_and_dataclass() -> None:
    assert definition(Point, "Point") == "z.object({ x: z.number().int().optional() })"
    assert definition(Size, "Size") == (
        "z.object({ width: z.number().int(), labels: z.array(z.string()).optional() })"
    )


class Node(BaseModel):
    label: str
    children: list[Node] = []


def test_a_recursive_model_is_an_annotated_getter() -> None:
    assert definition(Node, "Node") == (
        "z.object({ label: z.string(), get children(): z.ZodDefault<z.ZodArray<typeof Node>> "
        "{ return z.array(Node).default(() => ([])); } })"
    )


class Cat(BaseModel):
    kind: Literal["cat"]


class Dog(BaseModel):
    kind: Literal["dog"]


def test_a_discriminated_union_is_a_union() -> None:
    assert leaf_code(Annotated[Cat | Dog, Field(discriminator="kind")]) == "z.union([Cat, Dog])"


class Clock(BaseModel):
    at: time


def test_no_exact_form_is_a_wider_type_with_a_comment_and_a_warning() -> None:
    generated = zod_of(Clock)
    assert definition(Clock, "Clock") == "z.object({ at: z.string() /* not checked: format 'time' */ })"
    assert generated.warnings == ("Clock.at: not checked by zod: format 'time'",)


def test_a_pattern_javascript_cannot_match_the_same_way_is_reported() -> None:
    generated = zod_of(Annotated[str, StringConstraints(pattern=r"(?i)^abc$")])
    assert leaf_code(Annotated[str, StringConstraints(pattern=r"(?i)^abc$")]) == (
        "z.string() /* not checked: pattern '(?i)^abc$' (inline flags (?i) have no JavaScript form) */"
    )
    assert generated.warnings == (
        "e: not checked by zod: pattern '(?i)^abc$' (inline flags (?i) have no JavaScript form)",
    )


def test_unknown_keywords_are_reported_never_dropped() -> None:
    warnings: list[str] = []
    writer = ZodWriter({}, lambda where, what: warnings.append(f"{where}: {what}"))
    done = writer.convert({"type": "object", "minProperties": 1, "additionalProperties": True}, "here")
    assert done.code == "z.record(z.string(), z.unknown()) /* not checked: minProperties */"
    assert warnings == ["here: not checked by zod: minProperties"]


def test_names_that_are_not_identifiers_are_quoted_and_reserved_words_renamed() -> None:
    writer = ZodWriter({}, lambda where, what: None)
    done = writer.convert(
        {"type": "object", "properties": {"a-b": {"type": "string"}}, "required": ["a-b"]}, "w"
    )
    assert done.code == 'z.object({ "a-b": z.string() })'

    class schema(BaseModel):  # the name the generated module gives its own export
        x: int

    assert leaf_code(schema) == "_schema"


def test_the_module_header_says_where_it_came_from() -> None:
    lines = zod_of(int).text.splitlines()
    assert lines[0] == "// Generated by tidings 9.9.9 from m:s: do not edit."
    assert lines[1] == "// Regenerate: tidings schema m:s --format zod -o FILE"
    assert lines[2] == "// Check in CI: tidings schema m:s --format zod -o FILE --check"
    assert lines[4] == 'import { z } from "zod";'
    assert lines[-1] == "export type RealtimeEvents = typeof schema;"


def test_an_open_schema_or_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="the schema is open"):
        generate(Schema(None), format="zod", source="m:s", version="1")
    with pytest.raises(ValueError, match="unknown format 'ts': use one of zod, json-schema"):
        generate(Schema({"e": int}), format="ts", source="m:s", version="1")


@pytest.mark.parametrize(
    ("pattern", "javascript"),
    [
        (r"^[a-z]+$", r"^[a-z]+$"),
        (r"^\w+$", r"^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+$"),
        (r"[\w.-]", r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}.-]"),
        (r"\d{3}", r"[\p{Nd}]{3}"),
        (r"\s", r"[\p{White_Space}]"),
        (r"\S+", r"[^\p{White_Space}]+"),
        (r"\Aabc\z", r"^abc$"),
        (r"(?P<year>\d{4})", r"(?<year>[\p{Nd}]{4})"),
        (r"(?:a|b)(?=c)", r"(?:a|b)(?=c)"),
        (r"it\'s \#1", r"it's #1"),  # u mode refuses escaped punctuation that needs none
        (r"a\.b\-c", r"a\.b\-c"),
        (r"[]a]", r"[\]a]"),
        (r"^\d{2,4}-x{3}$", r"^[\p{Nd}]{2,4}-x{3}$"),
        (r"a}b{c]", r"a\}b\{c\]"),  # literals in Rust, refused bare by u mode
        (r"\p{Lu}\pL\P{Nd}", r"\p{Lu}\p{L}\P{Nd}"),
        (r"\x{1F600}\x41", r"\u{1F600}\x41"),
    ],
)
def test_patterns_translate_to_javascript(pattern: str, javascript: str) -> None:
    translated = to_javascript(pattern)
    assert (translated.source, translated.problems) == (javascript, ())


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(?i)abc", "inline flags (?i) have no JavaScript form"),
        (r"\bword\b", r"\b (word boundary) is ASCII-only in JavaScript"),
        (r"[\W]", r"\W inside [...] is ASCII-only in JavaScript"),
        (r"\p{Greek}", r"\p{Greek} is not a Unicode property JavaScript reads the same way"),
        (r"[[:alpha:]]", "nested classes and class set operations have no JavaScript form"),
        (r"[a-z&&[^aeiou]]", "nested classes and class set operations have no JavaScript form"),
    ],
)
def test_patterns_without_a_javascript_equivalent_are_reported(pattern: str, problem: str) -> None:
    assert problem in to_javascript(pattern).problems


Nested = TypeAliasType("Nested", "int | list[Nested]")


def test_a_recursion_outside_an_object_is_lazy_typed_unknown_with_a_warning() -> None:
    generated = zod_of(Nested)
    lazy = "z.lazy(() => z.union([z.number().int(), z.array(Nested)]))"
    assert f"export const Nested: z.ZodType<unknown> = {lazy};" in generated.text
    assert generated.warnings == ("Nested: recursive outside an object, typed as unknown in TypeScript",)


def test_computed_fields_are_stored_so_they_are_required() -> None:
    from pydantic import computed_field

    class WithTotal(BaseModel):
        x: int

        @computed_field  # type: ignore[prop-decorator]
        @property
        def double(self) -> int:
            return 2 * self.x

    assert definition(WithTotal, "WithTotal") == "z.object({ x: z.number().int(), double: z.number().int() })"
