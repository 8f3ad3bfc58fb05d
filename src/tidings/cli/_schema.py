"""``tidings schema APP``: the browser's types (zod, or JSON Schema) from APP's Python schema.

Writes to stdout or ``-o FILE``; with ``--check`` writes nothing and fails when
FILE is not what would be generated (for CI). Every part of the contract the
output cannot check exactly is a warning on stderr, one line each.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import CliError, usage

if TYPE_CHECKING:
    from tidings._schema import Schema

EXIT_STALE = 1


def schema(app: str, *, format: str, output: Path | None, check: bool) -> int:
    from tidings import __version__
    from tidings.typegen import generate

    if check and output is None:
        raise usage("--check compares with a file: give it with -o FILE")
    loaded = _load_schema(app)
    try:
        generated = generate(loaded, format=format, source=app, version=__version__)
    except ValueError as exc:
        raise usage(f"{app}: {exc}") from None
    for warning in generated.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if output is None:
        sys.stdout.write(generated.text)
        return 0
    if check:
        return _check(output, generated.text, app, format)
    try:
        output.write_text(generated.text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    return 0


def _load_schema(app: str) -> Schema:
    """APP's schema: APP is a ``Realtime``, or the schema dict itself (``myapp.events:SCHEMA``)."""
    from tidings import Realtime, SchemaError
    from tidings._loader import AppLoadError, load_attribute
    from tidings._schema import Schema

    try:
        target = load_attribute(app)
    except AppLoadError as exc:
        raise usage(str(exc)) from None
    if isinstance(target, Realtime):
        return target.schema
    if isinstance(target, Mapping):
        try:
            return Schema(target)
        except SchemaError as exc:
            raise usage(f"{app}: {exc}") from None
    raise usage(f"{app!r} is a {type(target).__name__}, not a tidings.Realtime or a schema dict")


def _check(output: Path, expected: str, app: str, format: str) -> int:
    try:
        current = output.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise CliError(f"cannot read {output}: {exc.strerror or exc}") from None
    if current == expected:
        return 0
    fix = f"regenerate it: tidings schema {app} --format {format} -o {output}"
    if current is None:
        sys.stderr.write(f"error: {output} does not exist; {fix}\n")
        return EXIT_STALE
    diff = difflib.unified_diff(
        current.splitlines(keepends=True), expected.splitlines(keepends=True), str(output), "generated", n=1
    )
    sys.stderr.write(f"error: {output} is out of date with {app}; {fix}\n")
    sys.stderr.writelines(list(diff)[:40])
    return EXIT_STALE
