"""Presence across real OS processes: ``kill -9`` of one holding members, on Redis and a Cluster.

The holder (``presence_process.py``) enters members with two connections
each and heartbeats; it is then killed with SIGKILL, so nothing leaves
cleanly. Two survivors in this process sweep on their own schedule: each
member must leave exactly once, within the TTL plus one heartbeat interval
(the sweeper's period) plus scheduling slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidings import LEAVE_EVENT, Channel, Realtime

from .presence_process import prefixed

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.0
# How long after a kill -9 the dead process's members may still be present:
# the TTL, plus one heartbeat interval (the sweepers' period), plus scheduling slack.
SWEPT_WITHIN = TTL + TTL / 3 + 1.5


async def wait_until_swept(room: Channel, remaining: int, killed_at: float) -> float:
    """Wait until ``room`` has ``remaining`` members; the seconds since ``killed_at`` that took."""
    while await room.presence_count() != remaining:
        assert time.monotonic() - killed_at < SWEPT_WITHIN, "the killed process's members lingered"
        await asyncio.sleep(0.02)
    return time.monotonic() - killed_at


@contextlib.asynccontextmanager
async def running(module: str, *args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Run ``python -m module args...``; yield it with the first line it printed (it is ready then).

    It is killed on the way out if the test did not kill it.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        yield process, line.decode().strip()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def kill_9(process: asyncio.subprocess.Process) -> float:
    """SIGKILL ``process`` (nothing of it leaves cleanly); when it died, on ``time.monotonic()``."""
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()
    return time.monotonic()


def _url(request: pytest.FixtureRequest, kind: str) -> str:
    fixture = "redis_server" if kind == "redis" else "redis_cluster"
    return str(request.getfixturevalue(fixture).url)


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_kill_9_of_a_process_holding_members_gives_one_leave_each(
    request: pytest.FixtureRequest, kind: str
) -> None:
    url = _url(request, kind)
    prefix = f"p{uuid.uuid4().hex[:10]}:"
    clients = [f"client-{n}" for n in range(20)]
    holder_args = [url, prefix, "room", str(TTL), *clients]
    survivors = [Realtime(redis=prefixed(url, prefix), presence_ttl=TTL) for _ in range(2)]
    try:
        async with running("tests.redis.presence_process", *holder_args) as (holder, line):
            assert line == "entered"
            room = survivors[0].channel("room")
            await survivors[1].channel("room").enter("survivor")
            assert await room.presence_count() == len(clients) + 1
            # Live for several TTLs: the holder's heartbeats keep its members in.
            await asyncio.sleep(TTL * 2)
            assert await room.presence_count() == len(clients) + 1

            took = await wait_until_swept(room, 1, await kill_9(holder))
        await asyncio.sleep(TTL * 2)  # more sweeps by both survivors: nothing more may be emitted

        assert [member.client_id for member in await room.presence()] == ["survivor"]
        history = await room.presence_channel.history()
        leaves = sorted(m.data["client_id"] for m in history if m.event == LEAVE_EVENT)
        assert leaves == sorted(clients), f"leaves after {took:.2f} s"
    finally:
        for survivor in survivors:
            await survivor.aclose()
