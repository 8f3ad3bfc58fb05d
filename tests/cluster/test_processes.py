"""Several independent processes sharing channels: two SSE servers, one emitter.

Two ``tidings serve`` processes (uvicorn, each with its own backend) serve
the same app on one Redis -- a single node or the cluster. An SSE client is
connected to each; a third process emits. Every stored event must reach both
clients exactly once, in order per channel, whichever process serves them and
whichever primary stores the channel. Frames are parsed raw (not with
``tidings.client``, which drops what it already saw and would hide a
duplicate).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import orjson
import pytest

from tests.cli.processes import REPO, TidingsProcess, cli_env
from tests.support.waiting import wait_until
from tidings import Realtime
from tidings._ids import parse_id
from tidings.client import SSEParser

CHANNELS = ["orders", "chat", "jobs", "alerts"]
EVENTS = 800


class SSEReader:
    """A raw SSE stream: the user events it carried, by channel, in arrival order."""

    def __init__(self) -> None:
        self.events: dict[str, list[str]] = {channel: [] for channel in CHANNELS}
        self.connected: set[str] = set()
        self.total = 0

    async def read(self, response: httpx.Response) -> None:
        parser = SSEParser()
        async for chunk in response.aiter_raw():
            for event in parser.feed(chunk):
                frame = orjson.loads(event.data)
                if frame.get("type") == "connected":
                    self.connected.add(frame["channel"])
                elif "id" in frame and "type" not in frame:
                    self.events[frame["channel"]].append(frame["id"])
                    self.total += 1


@pytest.fixture(params=["redis", "cluster"])
def shared_url(request: pytest.FixtureRequest, prefix: str) -> str:
    if request.param == "redis":
        return f"{request.getfixturevalue('redis_server').url}?prefix={prefix}"
    return f"{request.getfixturevalue('redis_cluster').url}?prefix={prefix}"


@pytest.fixture
def servers(shared_url: str) -> Iterator[list[TidingsProcess]]:
    env = cli_env(SERVED_REDIS_URL=shared_url)
    started = [
        TidingsProcess("serve", "tests.cluster.served_app:realtime", "--port", "0", env=env) for _ in range(2)
    ]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            if server.process is not None:
                assert server.stop() == 0, server.stderr


async def test_every_event_reaches_clients_of_both_servers_once(
    servers: list[TidingsProcess], shared_url: str
) -> None:
    readers = [SSEReader() for _ in servers]
    query = "&".join(f"channel={channel}" for channel in CHANNELS)
    async with AsyncExitStack() as stack, asyncio.TaskGroup() as group:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)))
        tasks = []
        for server, reader in zip(servers, readers, strict=True):
            response = await stack.enter_async_context(
                client.stream("GET", f"{server.base}/api/realtime?{query}")
            )
            assert response.status_code == 200
            tasks.append(group.create_task(reader.read(response)))
        await wait_until(
            lambda: all(r.connected == set(CHANNELS) for r in readers), timeout=30, what="both streams live"
        )
        emitter = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.cluster.emitter", shared_url, str(EVENTS), *CHANNELS,
            cwd=REPO, stdout=subprocess.PIPE,
        )  # fmt: skip
        output, _ = await emitter.communicate()
        assert emitter.returncode == 0 and output.decode().strip() == f"emitted {EVENTS}"
        await wait_until(
            lambda: all(r.total >= EVENTS for r in readers), timeout=30, what="every event on both streams"
        )
        # One more event per channel, the newest: once both streams carry it,
        # a duplicate of an earlier one would have shown up before it.
        async with Realtime(redis=shared_url) as sender:
            sentinels = {
                channel: await sender.channel(channel).emit("sentinel", None) for channel in CHANNELS
            }
        await wait_until(
            lambda: all(sentinels[c] in r.events[c] for r in readers for c in CHANNELS),
            timeout=30,
            what="the sentinel events on both streams",
        )
        for reader in readers:
            for channel, sentinel in sentinels.items():
                assert reader.events[channel].pop() == sentinel
                reader.total -= 1
        for task in tasks:
            task.cancel()
    async with Realtime(redis=shared_url) as realtime:
        for channel in CHANNELS:
            history = await realtime.channel(channel).history(limit=EVENTS)
            stored = [m.id for m in history if m.event != "sentinel"]
            assert len(stored) == EVENTS // len(CHANNELS)
            for reader in readers:
                assert reader.events[channel] == stored, channel
                assert [parse_id(i) for i in stored] == sorted(parse_id(i) for i in stored)
    assert all(reader.total == EVENTS for reader in readers)
