"""Two OS processes sharing channels through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_count, wait_until
from tidings import BackendUnavailableError, Message, Realtime
from tidings.redis import RedisBackend

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def emitter_process(
    url: str, prefix: str, channel: str, count: int, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``tests/redis/emit_process.py`` running in its own interpreter."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.redis.emit_process", url, prefix, channel, str(count), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def finish(process: subprocess.Popen[bytes], count: int) -> None:
    await wait_until(lambda: process.poll() is not None, timeout=60, what="the emitter process")
    output, _ = process.communicate()
    assert process.returncode == 0
    assert output.decode().strip() == f"emitted {count}"


async def test_subscriber_joining_midway_sees_every_event_of_another_process(
    redis_server: RedisServer, raw: redis.Redis, prefix: str
) -> None:
    total = 10_000
    with emitter_process(redis_server.url, prefix, "shared", total) as process:
        await wait_until(lambda: raw.xlen(prefix + "shared") >= total // 2, timeout=30, what="half")
        realtime = Realtime(backend=RedisBackend(redis_server.url, prefix=prefix))
        got: list[Message] = []
        await realtime.channel("shared").subscribe(on_data=got.append, after="0-0")
        joined_at = raw.xlen(prefix + "shared")
        await finish(process, total)
    assert joined_at < total, "the emitter finished before the subscriber joined"
    await wait_for_count(got, total, timeout=30)
    await asyncio.sleep(0.1)
    stored = [entry_id.decode() for entry_id, _ in raw.xrange(prefix + "shared")]
    assert len(stored) == total
    assert [m.id for m in got] == stored
    assert sorted(m.data["n"] for m in got) == list(range(total))
    await realtime.aclose()
    await realtime.backend.aclose()


@pytest.fixture
def tight_redis() -> RedisServer:
    """Redis that drops Pub/Sub clients as soon as 256 KiB wait for them."""
    return RedisServer(extra=["--client-output-buffer-limit", "pubsub 256kb 0 0"])


async def test_pubsub_client_dropped_for_falling_behind_catches_up(
    tight_redis: RedisServer, prefix: str
) -> None:
    server = tight_redis.start()
    client = redis.Redis.from_url(server.url)
    total = 3_000
    try:
        realtime = Realtime(
            backend=RedisBackend(server.url, prefix=prefix, reconnect_delay=0.02, max_reconnect_delay=0.2)
        )
        got: list[Message] = []
        problems: list[BaseException] = []
        await realtime.channel("flood").subscribe(on_data=got.append, on_error=problems.append)
        with emitter_process(server.url, prefix, "flood", total, "--size", "4000", "--tasks", "8") as process:
            await wait_until(lambda: client.xlen(prefix + "flood") > 100, timeout=30, what="the flood")
            # Stop reading for a while, as an overloaded process would.
            time.sleep(1.5)  # noqa: ASYNC251 - blocking the loop is the point
            await finish(process, total)
        await wait_for_count(got, total, timeout=30)
        stored = [entry_id.decode() for entry_id, _ in client.xrange(prefix + "flood")]
        assert [m.id for m in got] == stored
        # Redis did drop our Pub/Sub connection, and the subscriber was told.
        assert any(isinstance(p, BackendUnavailableError) for p in problems)
        await realtime.aclose()
        await realtime.backend.aclose()
    finally:
        client.close()
        server.stop()
