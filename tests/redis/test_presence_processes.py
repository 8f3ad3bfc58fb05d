"""Presence across real OS processes: ``kill -9`` of one holding members, on Redis and a Cluster.

The holder (``presence_process.py``) enters members with two connections
each and heartbeats; it is then killed with SIGKILL, so nothing leaves
cleanly. Two survivors in this process sweep on their own schedule: each
member must leave exactly once, within the TTL plus one heartbeat interval
(the sweeper's period) plus scheduling slack.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tidings import LEAVE_EVENT, Realtime

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.0


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
    holder = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.redis.presence_process", url, prefix, "room", str(TTL), *clients],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    survivors: list[Realtime] = []
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=30)
        assert line.strip() == b"entered"
        separator = "&" if "?" in url else "?"
        survivors = [Realtime(redis=f"{url}{separator}prefix={prefix}", presence_ttl=TTL) for _ in range(2)]
        room = survivors[0].channel("room")
        await survivors[1].channel("room").enter("survivor")
        assert await room.presence_count() == len(clients) + 1
        # Live for several TTLs: the holder's heartbeats keep its members in.
        await asyncio.sleep(TTL * 2)
        assert await room.presence_count() == len(clients) + 1

        os.kill(holder.pid, signal.SIGKILL)
        await holder.wait()
        killed_at = time.monotonic()
        while await room.presence_count() != 1:
            assert time.monotonic() - killed_at < TTL + TTL / 3 + 1.5, "the killed process's members lingered"
            await asyncio.sleep(0.02)
        took = time.monotonic() - killed_at
        await asyncio.sleep(TTL * 2)  # more sweeps by both survivors: nothing more may be emitted

        assert [member.client_id for member in await room.presence()] == ["survivor"]
        history = await room.presence_channel.history()
        leaves = sorted(m.data["client_id"] for m in history if m.event == LEAVE_EVENT)
        assert leaves == sorted(clients), f"leaves after {took:.2f} s"
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        for survivor in survivors:
            await survivor.aclose()
