"""A fresh Redis-backed server, then a burst of stream connects on one new channel.

That is what a deploy looks like: the server restarts and every browser
reconnects at once. It used to hang the server for good (a join loop that
never yielded). Every try must get every ``connected`` frame within seconds,
under both servers, while events are emitted on the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from pathlib import Path

import pytest

from tests.support.requirements import need_node
from tidings import Realtime

from .processes import TidingsProcess, cli_env
from .sample_app import schema

APP = "tests.cli.sample_app:realtime"
BURST_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "burst.mjs"
STREAMS = int(os.environ.get("TIDINGS_BURST_STREAMS", "1500"))
TRIES = int(os.environ.get("TIDINGS_BURST_TRIES", "2"))


async def emit_until_cancelled(realtime: Realtime, channel: str) -> int:
    sent = 0
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await realtime.channel(channel).emit("counter.tick", sent)
            sent += 1
            await asyncio.sleep(0.005)
    return sent


@pytest.mark.timeout(240)
async def test_every_stream_of_a_connect_burst_gets_connected(redis_url: str, flags: tuple[str, ...]) -> None:
    node = need_node()
    for attempt in range(TRIES):
        server = TidingsProcess(
            "serve", APP, "--port", "0", *flags, env=cli_env(SAMPLE_REDIS_URL=redis_url)
        ).start()
        emitter = Realtime(schema=schema, redis=redis_url)
        channel = f"burst-{attempt}-{uuid.uuid4().hex[:8]}"  # new to the server: no Pub/Sub state yet
        emitting = asyncio.create_task(emit_until_cancelled(emitter, channel))
        try:
            burst = await asyncio.create_subprocess_exec(
                node,
                str(BURST_SCRIPT),
                f"{server.base}/api/realtime?channel={channel}",
                str(STREAMS),
                "30000",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(burst.communicate(), timeout=90)
            assert burst.returncode == 0, err.decode()
            result = json.loads(out.decode().strip().splitlines()[-1])
            # The server still answers ordinary requests afterwards.
            probe = await asyncio.create_subprocess_exec(
                node,
                "-e",
                f"fetch('{server.base}/api/realtime/history?channel={channel}').then(r => "
                "console.log(r.status))",
                stdout=asyncio.subprocess.PIPE,
            )
            probe_out, _ = await asyncio.wait_for(probe.communicate(), timeout=30)
        finally:
            emitting.cancel()
            sent = await emitting
            await emitter.aclose()
            assert server.stop() == 0, server.errors
        assert result["connected"] == STREAMS, (attempt, result, server.errors[-2000:])
        assert result["ms"] < 30_000, result
        assert sent > 0
        assert probe_out.decode().strip().isdigit(), probe_out  # answered, whatever it says
