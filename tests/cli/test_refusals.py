"""A Redis that refuses the command's URL: one line naming the likely cause, at once, exit 2.

Run in-process (``tidings.cli.run``): no interpreter start per case.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.redis_server import RedisServer
from tidings.cli import run
from tidings.cli._errors import EXIT_USAGE

COMMANDS = {
    "emit": ["emit", "room", "e", "1"],
    "emit stdin": ["emit", "room", "e", "-"],
    "history": ["history", "room"],
    "tail": ["tail", "--history", "5", "room"],
}


@pytest.fixture
def db99(redis_server: RedisServer) -> str:
    base = redis_server.url.rsplit("/", 1)[0]
    return f"{base}/99?prefix=cli-{uuid.uuid4().hex[:8]}:"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_missing_database_is_one_line_at_once(
    db99: str, command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("1\n2\n"))
    started = time.monotonic()
    code = run([*COMMANDS[command], "--redis", db99])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "database" in lines[0] and "/99" in lines[0]
    assert "Traceback" not in err
    assert elapsed < 2
