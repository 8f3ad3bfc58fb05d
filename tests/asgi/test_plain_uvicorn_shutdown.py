"""SIGTERM to ``uvicorn app:app`` with open streams: each gets a ``reconnect`` frame, uvicorn exits.

uvicorn waits for open responses before it finishes a graceful shutdown (and
only then sends the lifespan ``shutdown`` event, which a mounted app never
gets), while an SSE stream never ends by itself. A user running their own
app under plain uvicorn, without ``--timeout-graceful-shutdown``, must still
see streams told to reconnect and the process exit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

from .raw_http import RawStream

REPO = Path(__file__).resolve().parents[2]


def start_uvicorn(app: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"tests.asgi.plain_app:{app}", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    for line in process.stdout:
        if "Uvicorn running on" in line:
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"uvicorn did not start: {process.communicate()[0]!r}")


# Where the stream is: Starlette's Mount answers /api/realtime with a redirect to the slash.
PATHS = {"mounted": "/api/realtime/", "bare": "/"}


@pytest.mark.parametrize("app", ["mounted", "bare"])
async def test_sigterm_sends_open_streams_a_reconnect_frame_and_uvicorn_exits(app: str) -> None:
    port = free_port()
    uvicorn = start_uvicorn(app, port)
    streams: list[RawStream] = []
    try:
        for n in range(3):
            streams.append(await RawStream.open(port, f"{PATHS[app]}?channel=c{n}"))
            assert (await streams[-1].frame()).type == "connected"
        uvicorn.send_signal(signal.SIGTERM)
        for stream in streams:
            frames = await stream.until_end(timeout=5)
            assert [frame.type for frame in frames] == ["reconnect"]
        # uvicorn re-raises the signal it caught once it has shut down (as without streams).
        assert uvicorn.wait(timeout=10) == -signal.SIGTERM
    finally:
        for stream in streams:
            await stream.close()
        if uvicorn.poll() is None:
            uvicorn.kill()
        output = uvicorn.communicate()[0]
    assert "Traceback" not in output, output
    assert "Finished server process" in output, output
