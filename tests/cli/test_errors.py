"""The CLI's failure helpers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tidings import BackendUnavailableError, CursorExpiredError, UnknownEventError
from tidings.cli._errors import EXIT_FAILURE, EXIT_USAGE, CliError, from_tidings, require
from tidings.cli._target import redact


def test_a_missing_extra_is_named_with_its_install_command() -> None:
    require("json", "client", "--url")  # present: nothing happens
    with pytest.raises(CliError) as caught:
        require("tidings_no_such_module", "client", "--url")
    assert caught.value.message == "--url needs the client extra: pip install 'tidings[client]'"
    assert caught.value.code == EXIT_FAILURE


def test_tidings_errors_map_to_exit_statuses() -> None:
    assert from_tidings(UnknownEventError("x", ["a"]), backend="B").code == EXIT_USAGE
    assert from_tidings(CursorExpiredError("c", "1-0", None, "2-0"), backend="B").code == EXIT_USAGE
    down = from_tidings(BackendUnavailableError("timed out"), backend="Redis at redis://h")
    assert (down.code, down.message) == (EXIT_FAILURE, "cannot reach Redis at redis://h: timed out")


def test_redact_hides_only_the_password() -> None:
    assert redact("redis://user:pw@host:6380/1?prefix=a:") == "redis://user:***@host:6380/1?prefix=a:"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_the_server_errors_are_tidings_errors() -> None:
    from tidings import TidingsError
    from tidings.server import AppLoadError
    from tidings.server._app import StartupError
    from tidings.server._run import ServerError

    for error in (AppLoadError, ServerError, StartupError):
        assert issubclass(error, TidingsError), error
        assert error.__module__ == "tidings._exceptions", error


@pytest.mark.parametrize("command", [["demo", "--port", "0"], ["serve", "tests.cli.sample_app:realtime"]])
def test_serving_without_starlette_names_the_server_extra(command: list[str]) -> None:
    script = "import sys\nsys.modules['starlette'] = None\nfrom tidings.cli import run\n"
    script += f"sys.exit(run({command!r}))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_FAILURE, result.stderr
    assert result.stderr == "error: serving needs the server extra: pip install 'tidings[server]'\n"
