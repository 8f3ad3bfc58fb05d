"""``realtime.sync`` in a framework's ``def`` routes, next to the SSE endpoint on the server's loop.

Starlette, FastAPI and Django run a ``def`` view in a worker thread. Such a
view may emit before any stream ever connected: the ``Realtime`` then has no
loop yet, and the sync facade must not keep it away from the server's loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tidings import Realtime
from tidings.asgi import handle
from tidings.client import SSEParser

from .conftest import Serve


@pytest.fixture(params=["memory", "redis"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[Realtime]:
    """A Realtime on the memory backend, or on the session's Redis under a prefix of its own."""
    if request.param == "memory":
        realtime = Realtime()
    else:
        server = request.getfixturevalue("redis_server")
        realtime = Realtime(redis=f"{server.url}?prefix=sync-{uuid.uuid4().hex[:10]}:")
    yield realtime
    await realtime.aclose()


def app_with_def_route(realtime: Realtime) -> tuple[Any, Any]:
    def emit(request: Request) -> PlainTextResponse:  # a def route: Starlette runs it in a thread
        number = int(request.query_params["n"])
        return PlainTextResponse(realtime.sync.channel("news").emit("posted", {"n": number}))

    endpoint = handle(realtime)
    app = Starlette(routes=[Route("/emit", emit, methods=["POST"]), Mount("/api/realtime", app=endpoint)])
    return app, endpoint


async def test_a_sync_emit_before_any_stream_leaves_the_endpoint_working(
    shared: Realtime, serve: Serve
) -> None:
    app, endpoint = app_with_def_route(shared)
    server = await serve(app, endpoint=endpoint)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        first = await client.post("/emit", params={"n": 1})
        assert first.status_code == 200, first.text
        async with (
            asyncio.timeout(10),
            client.stream(
                "GET", "/api/realtime/", params={"channel": "news", "last_ack_news": "0-0"}
            ) as response,
        ):
            assert response.status_code == 200, await response.aread()
            parser = SSEParser()
            chunks = response.aiter_raw()
            frames: list[dict[str, Any]] = []
            emitted = False
            while len(frames) < 3:
                frames += [orjson.loads(event.data) for event in parser.feed(await anext(chunks))]
                if frames and not emitted:
                    emitted = True
                    later = await client.post("/emit", params={"n": 2})
                    assert later.status_code == 200, later.text
    assert frames[0]["type"] == "connected"
    # The event stored before the stream existed is replayed; the later one arrives live.
    assert [(frame["id"], frame["data"]) for frame in frames[1:]] == [
        (first.text, {"n": 1}),
        (later.text, {"n": 2}),
    ]


async def test_sync_emits_keep_working_after_the_stream_took_over(shared: Realtime, serve: Serve) -> None:
    app, endpoint = app_with_def_route(shared)
    server = await serve(app, endpoint=endpoint)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert (await client.post("/emit", params={"n": 1})).status_code == 200
        # Async code on the server's loop, then sync routes again, many at once.
        await shared.channel("news").emit("posted", {"n": 2})
        answers = await asyncio.gather(*(client.post("/emit", params={"n": n}) for n in range(3, 13)))
        assert [answer.status_code for answer in answers] == [200] * 10
    stored = await shared.channel("news").history()
    assert sorted(message.data["n"] for message in stored) == list(range(1, 13))
