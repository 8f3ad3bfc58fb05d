"""docs/deployment.md shows the very files that are checked: the nginx config (run by
test_behind_nginx.py), the systemd unit (``systemd-analyze verify``) and the Dockerfile
(not built: no Docker engine here); their ``tidings serve`` command lines parse."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.support.requirements import need_systemd_analyze
from tidings.cli._app import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = (DOCS / "deployment.md").read_text()
UNIT = (DOCS / "tidings.service").read_text()
DOCKERFILE = (DOCS / "Dockerfile").read_text()


@pytest.mark.parametrize("name", ["nginx.conf", "tidings.service", "Dockerfile"])
def test_the_guide_shows_each_file_verbatim(name: str) -> None:
    text = (DOCS / name).read_text()
    assert f"\n{text}```\n" in GUIDE, f"docs/deployment.md must hold docs/{name} as it is"


def unit_command() -> list[str]:
    (line,) = [line for line in UNIT.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def docker_command() -> list[str]:
    (line,) = [line for line in DOCKERFILE.splitlines() if line.startswith("CMD ")]
    return list(json.loads(line.removeprefix("CMD ")))


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = need_systemd_analyze()
    # The unit names /srv/myapp/.venv/bin/tidings; systemd checks that it is executable.
    tidings = str(Path(sys.executable).with_name("tidings"))
    unit = tmp_path / "tidings.service"
    unit.write_text(UNIT.replace(unit_command()[0], tidings))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # verify reports unknown keys and bad values on stderr, with status 0: both must be clean.
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


@pytest.mark.parametrize("command", [unit_command(), docker_command()], ids=["systemd", "docker"])
def test_the_documented_serve_command_parses(command: list[str]) -> None:
    assert Path(command[0]).name == "tidings"
    assert command[1] == "serve"
    context = typer.main.get_command(cli).make_context("tidings", command[1:], resilient_parsing=False)
    sub = context.command.get_command(context, "serve")  # type: ignore[attr-defined]
    assert sub is not None
    sub.make_context("serve", command[2:], parent=context)  # raises on an unknown option or bad value
