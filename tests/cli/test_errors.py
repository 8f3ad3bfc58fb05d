"""The CLI's failure helpers."""

from __future__ import annotations

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
