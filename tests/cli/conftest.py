"""Fixtures of the CLI tests: a key prefix on the session's redis-server; which server; the CLI in-process."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from tests.support.redis_server import RedisServer
from tidings.cli import run

from .processes import TidingsProcess, cli_env

TOKEN = "test-token-0123456789abcdef"
SAMPLE_APP = "tests.cli.sample_app:realtime"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session Redis with a unique key prefix: tests never see each other's channels."""
    return f"{redis_server.url}?prefix=cli-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def server(redis_url: str, flags: tuple[str, ...]) -> Iterator[TidingsProcess]:
    """``tidings serve`` of the sample app on the test's Redis prefix, with the JSON API, under ``flags``."""
    process = TidingsProcess(
        "serve", SAMPLE_APP, "--port", "0", "--api-token", TOKEN, *flags,
        env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip
    try:
        yield process
    finally:
        assert process.stop() == 0, process.errors


@pytest.fixture(params=[pytest.param((), id="uvicorn"), pytest.param(("--native",), id="native")])
def flags(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The options choosing the server of ``serve``/``demo``: none for uvicorn, ``--native``."""
    return tuple(request.param)


class RunHere(Protocol):
    def __call__(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def run_here(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunHere:
    """``tidings ARGS`` in this process (``tidings.cli.run``), with ``run_cli``'s arguments and result.

    For commands that end before anything serves -- a mistake refused at
    once, a port in use, an unreachable Redis or server -- where a new
    interpreter per case only costs time. ``env`` adds to the environment
    without the caller's ``TIDINGS_*``/``SAMPLE_*`` variables, as ``cli_env``.
    """
    for name in list(os.environ):
        if name.startswith(("TIDINGS_", "SAMPLE_")):
            monkeypatch.delenv(name)

    def run_here(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr("sys.stdin", io.StringIO(stdin or ""))
            capsys.readouterr()
            code = _in_a_thread_if_a_loop_runs(lambda: run(list(args)))
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["tidings", *args], code, out, err)

    return run_here


def _in_a_thread_if_a_loop_runs(call: Callable[[], int]) -> int:
    """``call()``; from an async test in a thread of its own, as the CLI runs its own event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join()
    return result[0]
