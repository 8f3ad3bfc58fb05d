"""What only ``--native`` has: its worker processes.

Everything both servers serve is in test_serve.py / test_demo_command.py, run
under each (and the demo page in Chromium over it in tests/demo); here: the
native workers are real processes sharing one socket, stop together, are
replaced when one dies, and fail startup with one line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_until

from .conftest import TOKEN, RunHere
from .processes import UNREACHABLE_REDIS, TidingsProcess, assert_one_line_error, cli_env, run_cli
from .stored import emit

APP = "tests.cli.sample_app:realtime"


def workers_of(pid: int) -> list[int]:
    """The worker processes of the server ``pid`` (its children, minus multiprocessing's tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone meanwhile (a killed worker's cmdline can vanish while read)
        if b"spawn_main" in command:
            found.append(int(child))
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def open_streams(
    http: httpx.AsyncClient, url: str, count: int, channel: str
) -> list[tuple[httpx.Response, AsyncIterator[str]]]:
    streams = []
    for _ in range(count):
        request = http.build_request("GET", url, params={"channel": channel})
        response = await http.send(request, stream=True)
        assert response.status_code == 200
        chunks = response.aiter_text()
        assert '"type":"connected"' in await anext(chunks)
        streams.append((response, chunks))
    return streams


async def read_until(chunks: AsyncIterator[str], marker: str) -> str:
    text = ""
    async with asyncio.timeout(10):
        while marker not in text:
            text += await anext(chunks)
    return text


@pytest.fixture
def native_workers(redis_url: str) -> TidingsProcess:
    return TidingsProcess(
        "serve", APP, "--port", "0", "--native", "--workers", "2", "--api-token", TOKEN,
        env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip


async def streams_receiving(
    http: httpx.AsyncClient, server: TidingsProcess, redis_url: str, channel: str, count: int
) -> list[tuple[httpx.Response, AsyncIterator[str]]]:
    """``count`` streams of ``channel``, each checked to receive an event emitted from elsewhere."""
    streams = await open_streams(http, f"{server.base}/api/realtime", count, channel)
    (sent,) = await emit(redis_url, channel, ("counter.tick", 1))
    for _, chunks in streams:
        assert sent in await read_until(chunks, sent)
    return streams


async def test_workers_are_processes_sharing_the_socket_and_stop_together(
    native_workers: TidingsProcess, redis_url: str
) -> None:
    server = native_workers
    try:
        assert server.process is not None
        workers = workers_of(server.process.pid)
        assert len(workers) == 2
        async with httpx.AsyncClient(timeout=10) as http:
            streams = await streams_receiving(http, server, redis_url, "fan", 8)
            began = time.monotonic()
            server.send(signal.SIGTERM)
            for response, chunks in streams:
                assert '"type":"reconnect"' in "".join([chunk async for chunk in chunks])
                await response.aclose()
        assert server.wait(timeout=15) == 0, server.errors
        assert time.monotonic() - began < 8
        assert "Traceback" not in server.errors
        assert not any(alive(pid) for pid in workers)
    finally:
        server.stop()


async def test_a_worker_that_dies_is_replaced(native_workers: TidingsProcess, redis_url: str) -> None:
    server = native_workers
    try:
        assert server.process is not None
        pid = server.process.pid
        first, second = workers_of(pid)
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: len(set(workers_of(pid)) - {first, second}) == 1, timeout=20)
        # Served, whichever worker takes each connection.
        async with httpx.AsyncClient(timeout=10) as http:
            for response, _ in await streams_receiving(http, server, redis_url, "again", 6):
                await response.aclose()
        assert server.stop() == 0, server.errors
        assert "starting another" in server.errors
    finally:
        server.stop()


def test_workers_that_cannot_start_say_so_in_one_line() -> None:
    result = run_cli("serve", APP, "--port", "0", "--native", "--workers", "2",
                     env=cli_env(SAMPLE_REDIS_URL=UNREACHABLE_REDIS))  # fmt: skip
    assert_one_line_error(result, 1, "cannot reach the event backend", "within 0.3 s")
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_help_offers_native(run_here: RunHere, command: str) -> None:
    result = run_here(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "--native" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-header-size", "100"], "--max-header-size applies to --native only"),
        (["--request-timeout", "5"], "--request-timeout applies to --native only"),
        (["--native", "--max-header-size", "0"], "must be at least 1"),
        (["--native", "--request-timeout", "0"], "must be a positive number of seconds"),
        (["--native", "--request-timeout", "nan"], "must be a positive number of seconds"),
        (["--keepalive-timeout", "5"], "--keepalive-timeout applies to --native only"),
        (["--max-keepalive-requests", "5"], "--max-keepalive-requests applies to --native only"),
        (["--native", "--keepalive-timeout", "-1"], "must be a positive number of seconds"),
        (["--native", "--max-keepalive-requests", "0"], "must be at least 1"),
    ],
)
def test_native_limits_are_checked(run_here: RunHere, args: list[str], fragment: str) -> None:
    result = run_here("serve", APP, "--port", "0", *args)
    assert_one_line_error(result, 2, fragment)


async def test_native_limits_reach_the_server(redis_url: str) -> None:
    server = TidingsProcess(
        "serve", APP, "--port", "0", "--native", "--max-header-size", "2048", "--request-timeout", "0.5",
        "--keepalive-timeout", "0.5", "--max-keepalive-requests", "2", "--api-token", TOKEN,
        env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip
    try:
        host, port = server.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /api/realtime?channel=c HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        writer.close()
        # A request that never completes is closed after the timeout given.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/realtime?channel=c HTTP/1.1\r\n")
        started = time.monotonic()
        await asyncio.wait_for(reader.read(), 5)
        assert time.monotonic() - started < 3
        writer.close()
        # Keep-alive: the second request's answer closes (at most 2 per connection) ...
        auth = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.base, headers=auth) as http:
            answers = [await http.get("/api/realtime/history", params={"channel": "c"}) for _ in range(2)]
        assert [a.headers.get("connection") for a in answers] == [None, "close"]
        # ... and an idle kept-alive connection is closed after the timeout given.
        reader, writer = await asyncio.open_connection(host, int(port))
        request = "GET /api/realtime/history?channel=c HTTP/1.1\r\nHost: x\r\n"
        request += f"Authorization: Bearer {TOKEN}\r\n\r\n"
        writer.write(request.encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        started = time.monotonic()
        await asyncio.wait_for(reader.read(), 5)
        assert time.monotonic() - started < 3
        writer.close()
    finally:
        assert server.stop() == 0, server.errors
