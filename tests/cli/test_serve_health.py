"""``/healthz`` and ``/readyz`` of ``tidings serve``, under uvicorn and ``--native``, with workers too.

Readiness follows a real redis-server of the test's own: killed, ``/readyz``
turns 503 with a reason while ``/healthz`` stays 200; restarted, 200 again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.redis_server import RedisServer

from .conftest import TOKEN, RunHere
from .processes import TidingsProcess, assert_one_line_error, cli_env

APP = "tests.cli.sample_app:realtime"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


async def get(url: str) -> tuple[int, Any]:
    # A new connection each time: with workers, any of them may answer.
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
        return response.status_code, response.json()


async def wait_for_status(url: str, status: int, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await get(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"{url} still answers {code} {body} after {timeout} s"
        await asyncio.sleep(0.1)


async def test_readyz_follows_the_backend_and_healthz_does_not(
    own_redis: RedisServer, flags: tuple[str, ...]
) -> None:
    redis_url = f"{own_redis.url}?prefix=health:&command_timeout=0.5"
    server = TidingsProcess(
        "serve", APP, "--port", "0", "--ready-timeout", "0.5", "--api-token", TOKEN, *flags,
        env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip
    try:
        # Neither needs the API token (nor any auth): probes carry no credentials.
        assert await get(f"{server.base}/healthz") == (200, {"ok": True})
        assert await get(f"{server.base}/readyz") == (200, {"ready": True})
        own_redis.kill()
        began = time.monotonic()
        code, body = await get(f"{server.base}/readyz")
        assert code == 503, body
        assert body["ready"] is False
        assert "event backend" in body["reason"], body
        assert time.monotonic() - began < 2  # bounded by --ready-timeout, not a hang
        assert await get(f"{server.base}/healthz") == (200, {"ok": True})
        own_redis.start()
        assert await wait_for_status(f"{server.base}/readyz", 200) == {"ready": True}
    finally:
        assert server.stop() == 0, server.errors


async def test_every_worker_answers_health_and_readiness(redis_url: str, flags: tuple[str, ...]) -> None:
    server = TidingsProcess(
        "serve", APP, "--port", "0", "--workers", "2", *flags, env=cli_env(SAMPLE_REDIS_URL=redis_url)
    ).start()
    try:
        for _ in range(6):
            assert await get(f"{server.base}/healthz") == (200, {"ok": True})
            assert await get(f"{server.base}/readyz") == (200, {"ready": True})
    finally:
        assert server.stop() == 0, server.errors


async def test_the_paths_are_configurable(flags: tuple[str, ...]) -> None:
    server = TidingsProcess(
        "serve", "tests.cli.sample_app:in_memory", "--port", "0", *flags,
        "--healthz-path", "/live", "--readyz-path", "/ops/ready", "--metrics-path", "",
    ).start()  # fmt: skip
    try:
        assert await get(f"{server.base}/live") == (200, {"ok": True})
        assert await get(f"{server.base}/ops/ready") == (200, {"ready": True})
        for path in ("/healthz", "/readyz", "/metrics"):
            code, _ = await get(f"{server.base}{path}")
            assert code == 404, path
    finally:
        assert server.stop() == 0, server.errors


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--readyz-path", "/api/realtime"], "collides with the stream"),
        (["--metrics-path", "/api/realtime/metrics"], "collides with the stream"),
        (["--healthz-path", "/x", "--readyz-path", "/x"], "distinct paths"),
        (["--healthz-path", "healthz"], "--healthz-path"),
        (["--ready-timeout", "0"], "--ready-timeout"),
    ],
)
def test_bad_ops_options_are_usage_errors(run_here: RunHere, args: list[str], fragment: str) -> None:
    result = run_here("serve", "tests.cli.sample_app:in_memory", "--port", "0", *args)
    assert_one_line_error(result, 2, fragment)
