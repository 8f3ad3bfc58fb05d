"""docs/nginx.conf, as written, in front of ``tidings serve`` (uvicorn and --native).

A real nginx (Debian's package, installed by scripts/bootstrap) runs the
documentation's config on free ports. Through it: a stream gets each event
without buffering delay, the JSON API answers over the kept-alive upstream,
and after the server restarts (Redis backend; one process, or two workers)
a stream resumes with ``Last-Event-ID`` with no gap and no duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.asgi.raw_http import Frame, RawStream
from tests.support.nginx import Nginx, connections_to
from tests.support.redis_server import free_port
from tests.support.requirements import need_nginx
from tests.support.waiting import wait_until

from .conftest import TOKEN
from .processes import TidingsProcess, cli_env
from .stored import emit

APP = "tests.cli.sample_app:realtime"
AUTH = {"authorization": f"Bearer {TOKEN}"}
PROMPT = 0.5  # seconds from the emit call to the frame: no proxy buffering
STREAM = "/api/realtime?channel=notes"


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    proxy = Nginx(need_nginx(), tmp_path / "nginx", port=free_port(), upstream_port=free_port()).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def serve(nginx: Nginx, redis_url: str, flags: tuple[str, ...], *, workers: int = 1) -> TidingsProcess:
    """``tidings serve`` on the port nginx forwards to."""
    return TidingsProcess(
        "serve", APP, "--port", str(nginx.upstream_port), "--api-token", TOKEN, "--workers", str(workers),
        *flags, env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip


async def api_emit(http: httpx.AsyncClient, nginx: Nginx, value: int) -> None:
    answer = await http.post(
        f"{nginx.base}/api/realtime/emit",
        json={"channel": "notes", "event": "counter.tick", "data": value},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text


def ticks(frames: list[Frame]) -> list[object]:
    return [frame.data["data"] for frame in frames]


async def test_each_event_reaches_the_stream_through_nginx_at_once(
    nginx: Nginx, redis_url: str, flags: tuple[str, ...]
) -> None:
    server = serve(nginx, redis_url, flags)
    try:
        stream = await RawStream.open(nginx.port, STREAM)
        assert (stream.status, stream.headers["server"].split("/")[0]) == (200, "nginx")
        assert (await stream.frame()).type == "connected"
        async with httpx.AsyncClient(timeout=10) as http:
            for value in range(5):
                emitted = time.monotonic()
                await api_emit(http, nginx, value)
                (frame,) = await stream.frames(1, timeout=PROMPT)
                delay = time.monotonic() - emitted
                assert frame.data["data"] == value
                assert delay < PROMPT, f"event {value} took {delay:.3f} s through nginx"
            await stream.close()
            # The API calls are done and the stream is closed: only upstream keep-alive holds
            # a connection open now (without it, nginx closes each after its response).
            await wait_until(lambda: connections_to(nginx.upstream_port) <= 1, what="the stream's close")
            assert connections_to(nginx.upstream_port) == 1
            await api_emit(http, nginx, 99)  # answered on that kept-alive connection
            assert connections_to(nginx.upstream_port) == 1
    finally:
        assert server.stop() == 0, server.errors
    assert "[error]" not in nginx.errors()


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_stream_resumes_through_nginx_with_last_event_id_after_a_restart(
    nginx: Nginx, redis_url: str, flags: tuple[str, ...], workers: int
) -> None:
    server = serve(nginx, redis_url, flags, workers=workers)
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            stream = await RawStream.open(nginx.port, STREAM)
            assert (await stream.frame()).type == "connected"
            for value in range(3):
                await api_emit(http, nginx, value)
            seen = await stream.frames(3)
            assert ticks(seen) == [0, 1, 2]
        finally:
            assert server.stop() == 0, server.errors
        # The server said goodbye through nginx (graceful shutdown), and the stream ended.
        assert [frame.type for frame in await stream.until_end()] == ["reconnect"]
        await stream.close()

        await emit(redis_url, "notes", ("counter.tick", 3), ("counter.tick", 4))  # while it is down
        server = serve(nginx, redis_url, flags, workers=workers)
        try:
            resumed = await RawStream.open(nginx.port, STREAM, headers={"Last-Event-ID": seen[-1].id})
            assert resumed.status == 200
            assert (await resumed.frame()).type == "connected"
            await api_emit(http, nginx, 5)
            # 3 and 4 replayed, then 5 live, in id order: a gap or a duplicate would show before 5.
            assert ticks(await resumed.frames(3)) == [3, 4, 5]
            await resumed.close()
        finally:
            assert server.stop() == 0, server.errors
