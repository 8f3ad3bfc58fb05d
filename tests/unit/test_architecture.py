"""The import rules of docs/architecture.md, checked on the source.

Each package of ``tidings`` may import, at module level, only the packages
its layer allows; an import inside a function (a lazy import) is how a
package reaches an optional dependency, and only where listed below. The
check reads the source with ``ast``: it needs nothing installed.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# The packages of tidings (the core is every top-level module: tidings._*).
CORE = "core"
PACKAGES = ("redis", "client", "asgi", "native", "web", "ops", "server", "demo", "typegen", "cli")

# What each package may import from tidings at module level.
ALLOWED: dict[str, set[str]] = {
    CORE: {CORE},
    "redis": {CORE, "redis"},
    "client": {CORE, "client"},
    "asgi": {CORE, "asgi"},
    "native": {CORE, "asgi", "native"},
    "web": {CORE, "web"},
    "ops": {CORE, "asgi", "ops"},
    "demo": {CORE, "asgi", "web", "demo"},
    "server": {CORE, "asgi", "native", "web", "ops", "demo", "server"},
    "typegen": {CORE, "typegen"},
    "cli": {CORE, "asgi", "native", "web", "ops", "demo", "server", "client", "redis", "typegen", "cli"},
}

# Lazy imports (inside a function) that cross the rules above, each for a reason.
LAZY_ALLOWED: dict[str, set[str]] = {
    CORE: {"redis"},  # the backend-from-URL factory: redis:// picks tidings.redis
    "asgi": {"native"},  # `from tidings.asgi import serve_native` keeps working
}

# Third-party modules a package must not import at module level.
THIRD_PARTY_FORBIDDEN: dict[str, set[str]] = {
    CORE: {"redis", "httpx", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
    "redis": {"httpx", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
    "client": {"redis", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
    "asgi": {"redis", "httpx", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
    "native": {"prometheus_client"},
    # Metrics load prometheus_client when a metrics handler is made; health needs no extra.
    "ops": {"redis", "httpx", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
    "server": {"prometheus_client"},
    "typegen": {"redis", "httpx", "uvicorn", "starlette", "httptools", "typer", "rich", "prometheus_client"},
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. tidings.asgi._endpoint
    target: str  # the imported module, absolute
    lazy: bool  # inside a function
    line: int


def layer_of(module: str) -> str:
    if module == "tidings.__main__":
        return "cli"  # `python -m tidings` is the command line
    parts = module.split(".")
    if parts[0] != "tidings":
        return parts[0]  # third party
    if len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    return CORE


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "tidings").rglob("*.py")):
        relative = path.relative_to(SRC).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    if node.module is None:  # from . import x: each name is a module
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@functools.cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, lazy: bool, module: str = module, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    continue  # for the type checker only: never runs
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    visit(child, True)
                    continue
                if isinstance(child, ast.Import):
                    found.extend(Import(module, alias.name, lazy, child.lineno) for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    targets = _resolve(module, path, child)
                    found.extend(Import(module, target, lazy, child.lineno) for target in targets)
                visit(child, lazy)

        visit(tree, False)
    return tuple(found)


def test_the_source_is_found() -> None:
    modules = dict(_modules())
    assert "tidings" in modules and "tidings.asgi" in modules and "tidings.redis" in modules


def test_each_package_imports_only_what_its_layer_allows() -> None:
    broken = []
    for item in imports():
        source, target = layer_of(item.module), layer_of(item.target)
        if not item.target.startswith("tidings"):
            continue
        allowed = ALLOWED[source] | (LAZY_ALLOWED.get(source, set()) if item.lazy else set())
        if target not in allowed:
            kind = "lazily " if item.lazy else ""
            broken.append(f"{item.module}:{item.line} {kind}imports {item.target} ({source} -> {target})")
    assert broken == []


@pytest.mark.parametrize("layer", sorted(THIRD_PARTY_FORBIDDEN))
def test_optional_dependencies_stay_out_of_module_level(layer: str) -> None:
    broken = [
        f"{item.module}:{item.line} imports {item.target}"
        for item in imports()
        if not item.lazy
        and layer_of(item.module) == layer
        and item.target.split(".")[0] in THIRD_PARTY_FORBIDDEN[layer]
    ]
    assert broken == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The rules above can fail: a core module importing the ASGI package is caught.
    module = ast.parse("from tidings.asgi import handle\n")
    node = module.body[0]
    assert isinstance(node, ast.ImportFrom)
    (target,) = _resolve("tidings._realtime", tmp_path / "_realtime.py", node)
    assert layer_of(target) not in ALLOWED[layer_of("tidings._realtime")]
