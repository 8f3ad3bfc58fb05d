"""The package metadata: one version everywhere, a LICENSE matching the declared license,
project URLs, and extras that publish no development tool to users."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import metadata, requires, version
from pathlib import Path

import tidings
from tidings._version import UNINSTALLED, installed_version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DEV_TOOLS = {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "mypy", "ruff", "playwright"}


def test_one_version_in_pyproject_metadata_module_and_cli() -> None:
    declared = PYPROJECT["project"]["version"]
    printed = subprocess.run(
        [sys.executable, "-m", "tidings", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version("tidings") == declared, "reinstall (scripts/bootstrap): the metadata is stale"
    assert tidings.__version__ == declared
    assert printed == f"tidings {declared}\n"


def test_an_uninstalled_checkout_says_so_instead_of_inventing_a_number() -> None:
    assert installed_version("tidings-no-such-distribution") == UNINSTALLED == "0+unknown"


def test_license_file_matches_the_declared_license() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_project_urls_point_at_the_repository() -> None:
    urls = metadata("tidings").get_all("Project-URL") or []
    labels = {entry.split(",", 1)[0].strip(): entry.split(",", 1)[1].strip() for entry in urls}
    assert set(labels) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(url.startswith("https://github.com/tidings-py/tidings") for url in labels.values())


def test_changelog_has_an_unreleased_section_and_the_current_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert f"## [{PYPROJECT['project']['version']}]" in text


def test_only_the_dev_extra_carries_test_and_lint_tools() -> None:
    # The build flattens self-references (tidings[dev]), so a leak through one shows here too.
    by_extra: dict[str, set[str]] = {}
    for requirement in requires("tidings") or []:
        extra = re.search(r"extra == ['\"]([^'\"]+)['\"]", requirement)
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        if extra and name:
            by_extra.setdefault(extra.group(1), set()).add(name.group(0).lower())
    assert by_extra["dev"] >= DEV_TOOLS
    leaked = {extra: names & DEV_TOOLS for extra, names in by_extra.items() if extra != "dev"}
    assert not any(leaked.values()), leaked
    assert {"broadcaster", "sse-starlette"} <= by_extra["bench"]
