"""Every bad option value: one line naming the option and what is allowed, exit 2, nothing started.

Run in-process (``tidings.cli.run``): the values are refused before anything
connects or listens, so no server or Redis is needed.
"""

from __future__ import annotations

import pytest

from tidings.cli import run
from tidings.cli._errors import EXIT_USAGE

APP = "tests.cli.sample_app:realtime"
REDIS = ["--redis", "redis://127.0.0.1:9/0"]  # never reached: the options are refused first
URL = ["--url", "http://127.0.0.1:9/api/realtime", "--token", "t" * 20]

CASES = [
    # (arguments, words the one line must hold)
    (["serve", APP, "--port", "70000"], ["--port", "0 to 65535", "70000"]),
    (["serve", APP, "--port", "-1"], ["--port", "0 to 65535"]),
    (["serve", APP, "--port", "99999999999999999999999"], ["--port", "0 to 65535"]),
    (["serve", APP, "--port", "http"], ["--port", "valid integer"]),
    (["serve", APP, "--workers", "0"], ["--workers", "at least 1"]),
    (["serve", APP, "--path", "api"], ["--path", "/api/realtime"]),
    (["serve", APP, "--api-token", "short"], ["at least 16 characters"]),
    (["serve", APP, "--log-level", "loud"], ["--log-level", "critical"]),
    (["demo", "--port", "65536"], ["--port", "0 to 65535"]),
    (["demo", "--redis", "redis://127.0.0.1:99999/0"], ["--redis", "Port out of range"]),
    (["demo", "--redis", "localhost"], ["--redis", "redis://localhost:6379/0"]),
    (["history", "c", *REDIS, "--limit", "0"], ["--limit", "at least 1"]),
    (["history", "c", *URL, "--limit", "-3"], ["--limit", "at least 1"]),
    (["history", "c", *REDIS, "--start", "-5"], ["--start", "0 to 18446744073709551615"]),
    (["history", "c", *REDIS, "--end", str(2**64)], ["--end", "0 to 18446744073709551615"]),
    (["history", "c", *REDIS, "--after", "yesterday"], ["after", "<ms>-<seq>"]),
    (["tail", "c", *REDIS, "--history", "0"], ["--history", "at least 1"]),
    (["tail", "c", *REDIS, "--count", "0"], ["--count", "at least 1"]),
    (["tail", "c", *REDIS, "--history", "3", "--after", "1-0"], ["--history", "--after"]),
    (["tail", "c", "--url", "http://127.0.0.1:99999/api/realtime"], ["--url", "1 to 65535"]),
    (["emit", "c", "e", "1", "--url", "http://127.0.0.1:0x1/x", "--token", "t" * 20], ["--url", "port"]),
    (["emit", "c", "e", "1", "--url", "ftp://example.com/x"], ["--url", "http(s)"]),
    (["emit", "c", "e", "1", "--redis", "redis://127.0.0.1:99999/0"], ["--redis", "Port out of range"]),
    (["emit", "c", "e", "1", "--redis", "redis://127.0.0.1/zero"], ["--redis", "database number"]),
    (["emit", "c", "e", "1", "--redis", "redis://127.0.0.1/0?sockettimeout=1"], ["--redis", "sockettimeout"]),
    (["emit", "c", "e", "1", "--redis", "redis://h/0?socket_timeout=x"], ["--redis", "socket_timeout"]),
    (["emit", "c", "e", "1", "--redis", "redis://127.0.0.1/0?command_timeout=0"], ["command_timeout"]),
    (["emit", "c", "e", "1", "--redis", "mysql://x"], ["--redis", "scheme"]),
]


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(args) for args, _ in CASES])
def test_a_bad_option_value_is_one_line(
    args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(args)
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert out == ""
