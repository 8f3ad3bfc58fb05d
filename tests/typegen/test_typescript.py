"""The generated zod module with the real tools: tsc --strict types the official client and
tidings.js with it, and node's zod accepts what tidings stores and refuses what pydantic refuses.

Needs Node.js and tests/typescript/node_modules (``npm ci --prefix tests/typescript``,
done by scripts/bootstrap): skipped without them, failed under TIDINGS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from tests.support.requirements import TYPESCRIPT_DIR, need_typescript
from tests.typegen.sample_schema import ACCEPTED, REFUSED, SCHEMA
from tidings import Realtime, __version__
from tidings._schema import Schema
from tidings.typegen import generate
from tidings.typegen._regex import to_javascript

STATIC = Path(__file__).resolve().parents[2] / "src" / "tidings" / "demo" / "static"
DEMO_MODULE = STATIC / "realtime-schema.ts"


@pytest.fixture
def tools() -> Path:
    return need_typescript()


@pytest.fixture
def workdir(tools: Path) -> Iterator[Path]:
    # Inside tests/typescript so that imports resolve to its node_modules.
    directory = TYPESCRIPT_DIR / f"work-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    for name in ("tsconfig.json", "react_page.tsx", "plain_page.ts", "roundtrip.mjs"):
        shutil.copy(TYPESCRIPT_DIR / name, directory / name)
    shutil.copy(STATIC / "tidings.d.ts", directory / "tidings.d.ts")
    shutil.copy(DEMO_MODULE, directory / "realtime-schema.ts")
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def tsc(tools: Path, directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools / "tsc"), "-p", "tsconfig.json", *files],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def only(directory: Path, page: str) -> None:
    """Point the tsconfig at one page (tsc refuses -p together with file names)."""
    config = json.loads((directory / "tsconfig.json").read_text())
    config["files"] = [page]
    (directory / "tsconfig.json").write_text(json.dumps(config))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("page", ["react_page.tsx", "plain_page.ts"])
def test_correct_use_compiles_with_strict_tsc(tools: Path, workdir: Path, page: str) -> None:
    only(workdir, page)
    result = tsc(tools, workdir)
    assert result.returncode == 0, result.stdout


NO_FIELD = "Property 'txt' does not exist on type '{ name: string; text: string; }'"
MISTAKES = [
    pytest.param(
        "react_page.tsx",
        ('"job.progress"]', '"job.progres"]'),
        [
            "error TS2820: Type '\"job.progres\"' is not assignable to type",
            "Did you mean '\"job.progress\"'?",
        ],
        id="official-client-unknown-event",
    ),
    pytest.param(
        "react_page.tsx",
        ("data.text.length", "data.txt.length"),
        [NO_FIELD],
        id="official-client-unknown-field",
    ),
    pytest.param(
        "plain_page.ts",
        ('=== "job.progress"', '=== "job.progres"'),
        ["error TS2367: This comparison appears to be unintentional", "'\"job.progres\"' have no overlap"],
        id="tidings-js-unknown-event",
    ),
    pytest.param(
        "plain_page.ts",
        ("message.data.text.length", "message.data.txt.length"),
        [NO_FIELD],
        id="tidings-js-unknown-field",
    ),
]


@pytest.mark.parametrize(("page", "change", "errors"), MISTAKES)
def test_a_mistake_fails_to_compile_naming_it(
    tools: Path, workdir: Path, page: str, change: tuple[str, str], errors: list[str]
) -> None:
    only(workdir, page)
    edit(workdir / page, *change)
    result = tsc(tools, workdir)
    assert result.returncode != 0
    for error in errors:
        assert error in result.stdout


def test_the_sample_schema_module_compiles_with_strict_tsc(tools: Path, workdir: Path) -> None:
    # Recursive and mutually recursive models, getters, refinements: all typed.
    generated = generate(Schema(SCHEMA), format="zod", source="sample:SCHEMA", version=__version__)
    (workdir / "realtime-schema.ts").write_text(generated.text)
    (workdir / "uses.ts").write_text(
        'import { z } from "zod";\nimport { schema } from "./realtime-schema";\n'
        "type Tree = z.infer<typeof schema.tree>;\n"
        'const tree: Tree = { label: "a", parent: null,\n'
        '  children: [{ label: "b", children: [], parent: null }] };\n'
        "type Ping = z.infer<typeof schema.ping>;\n"
        "const ping: Ping = { pong: { count: 1, ping: { pong: null } } };\n"
        "console.log(tree.children[0].label, ping.pong?.count);\n"
    )
    only(workdir, "uses.ts")
    result = tsc(tools, workdir)
    assert result.returncode == 0, result.stdout


async def stored_json(event: str, value: Any) -> str:
    """The JSON text of ``value`` as tidings stores it and history() returns it."""
    async with Realtime(SCHEMA) as realtime:
        channel = realtime.channel("typegen")
        await channel.emit(event, value)
        (message,) = await channel.history()
    return orjson.dumps(message.to_dict()["data"]).decode()


def run_zod(tools: Path, directory: Path, cases: list[dict[str, str]]) -> list[dict[str, Any]]:
    generated = generate(Schema(SCHEMA), format="zod", source="sample:SCHEMA", version=__version__)
    (directory / "realtime-schema.ts").write_text(generated.text)
    (directory / "cases.json").write_text(json.dumps(cases))
    bundle = directory / "roundtrip.bundle.mjs"
    subprocess.run(
        [str(tools / "esbuild"), "roundtrip.mjs", "--bundle", "--platform=node", "--format=esm",
         f"--outfile={bundle.name}", "--log-level=warning"],
        cwd=directory, check=True, timeout=120,
    )  # fmt: skip
    output = subprocess.run(
        ["node", bundle.name, "cases.json"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    results: list[dict[str, Any]] = json.loads(output)
    return results


async def test_what_tidings_stores_passes_the_generated_zod_schema(tools: Path, workdir: Path) -> None:
    cases = [
        {"event": event, "json": await stored_json(event, value)}
        for event, values in ACCEPTED.items()
        for value in values
    ]
    assert {case["event"] for case in cases} == set(Schema(SCHEMA).event_names)
    results = run_zod(tools, workdir, cases)
    refused = [
        (case, result["issues"]) for case, result in zip(cases, results, strict=True) if not result["ok"]
    ]
    assert refused == []


def test_what_pydantic_refuses_zod_refuses(tools: Path, workdir: Path) -> None:
    schema = Schema(SCHEMA)
    cases = []
    for event, values in REFUSED.items():
        declared = schema.event_type(event)
        assert declared is not None
        for value in values:
            text = orjson.dumps(value)
            # Refused by the reader tidings uses (field names or aliases), so
            # the case tests the constraint, not the key.
            with pytest.raises(ValueError, match="validation error"):
                declared.adapter.validate_json(text, by_alias=True, by_name=True)
            cases.append({"event": event, "json": text.decode()})
    results = run_zod(tools, workdir, cases)
    accepted = [case for case, result in zip(cases, results, strict=True) if result["ok"]]
    assert accepted == []


async def test_fields_with_defaults_may_be_missing_and_parse_to_what_tidings_stores(
    tools: Path, workdir: Path
) -> None:
    # A default makes a field optional on input; zod fills it in, as pydantic
    # does before tidings stores the event.
    partial = {
        "tree": {"label": "x"},
        "order": {"order_id": 1, "items": [{"sku": "AB1", "quantity": 2}]},
        "ping": {},
        "size": {"width": 1},
    }
    cases = [{"event": event, "json": orjson.dumps(value).decode()} for event, value in partial.items()]
    results = run_zod(tools, workdir, cases)
    assert [result["ok"] for result in results] == [True] * len(partial)
    for (event, value), result in zip(partial.items(), results, strict=True):
        stored = json.loads(await stored_json(event, value))
        if event == "size":
            # default_factory: no JSON default for zod to fill in, so the field is optional.
            assert result["data"] == {"width": 1, "height": 1}
            assert stored == {"width": 1, "height": 1, "labels": []}
            continue
        assert result["data"] == stored, event


PATTERNS = {
    r"^\w+$": ["abc", "José", "名前", "a b", "", "_x9", "e\u0301"],
    r"^\d{2,4}$": ["12", "1234", "12345", "١٢٣", "x1"],
    r"^\S+\s\S+$": ["a b", "a\u00a0b", "ab"],
    r"^[\w.-]+@x$": ["a.b-c@x", "ü@x", "a b@x"],
    r"\p{Lu}\pL": ["Ab", "ab", "ÉÉ"],
    r"^a}b$": ["a}b", "ab"],
    r"\x{1F600}": ["😀", ":)"],
    r"\Ahello\z": ["hello", "hello\n", "say hello"],
    r"^it\'s$": ["it's", "its"],
    r"(?P<year>\d{4})-(?:0[1-9]|1[0-2])": ["2024-12", "2024-13", "24-01"],
}


def pydantic_matches(pattern: str, sample: str) -> bool:
    adapter: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])
    try:
        adapter.validate_python(sample)
    except ValidationError:
        return False
    return True


def node_matches(cases: list[tuple[str, str]]) -> list[bool]:
    """For each (pattern, sample): does the translated pattern match in node (``u`` flag)?"""
    payload = [{"source": to_javascript(pattern).source, "sample": sample} for pattern, sample in cases]
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(cases.map((c) => new RegExp(c.source, 'u').test(c.sample))));"
    )
    output = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    matched: list[bool] = json.loads(output)
    return matched


def test_translated_patterns_match_the_same_strings_in_node_as_in_pydantic(tools: Path) -> None:
    assert all(to_javascript(pattern).problems == () for pattern in PATTERNS)
    cases = [(pattern, sample) for pattern, samples in PATTERNS.items() for sample in samples]
    expected = [pydantic_matches(pattern, sample) for pattern, sample in cases]
    assert node_matches(cases) == expected


UNICODE_PATTERNS = (r"^\w+( \w+)*$", r"^\d+$", r"^\S+\s\S+$", r"^[\w.-]+$")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    samples=st.lists(
        st.one_of(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
            st.from_regex(r"\w+ \w+", fullmatch=True),
            st.from_regex(r"\d+", fullmatch=True),
        ),
        min_size=150,
        max_size=150,
    )
)
def test_unicode_classes_match_in_node_as_in_pydantic_for_any_text(samples: list[str]) -> None:
    # Python's re (which generates the samples), Rust's regex (pydantic) and
    # JavaScript disagree on \w, \d and \s at the edges of Unicode; the
    # translation must make JavaScript agree with Rust on every string.
    need_typescript()
    cases = [(pattern, sample) for pattern in UNICODE_PATTERNS for sample in samples]
    expected = [pydantic_matches(pattern, sample) for pattern, sample in cases]
    different = [case for case, js, py in zip(cases, node_matches(cases), expected, strict=True) if js != py]
    assert different == []
