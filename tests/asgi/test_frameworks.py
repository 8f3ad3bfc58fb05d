"""Mounted in Starlette and FastAPI, read with httpx over a real socket."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tidings import Realtime
from tidings.asgi import RealtimeEndpoint, handle
from tidings.client import SSEParser

from .conftest import Serve


async def home(request: Any) -> PlainTextResponse:
    return PlainTextResponse("home")


def starlette_mount(endpoint: RealtimeEndpoint) -> Any:
    return Starlette(routes=[Route("/", home), Mount("/api/realtime", app=endpoint)])


def starlette_route(endpoint: RealtimeEndpoint) -> Any:
    # A Route given an ASGI app (not a function) passes every method through.
    return Starlette(routes=[Route("/", home), Route("/api/realtime", endpoint)])


def fastapi_mount(endpoint: RealtimeEndpoint) -> Any:
    app = FastAPI()
    app.add_api_route("/", lambda: {"page": "home"})
    app.mount("/api/realtime", endpoint)
    return app


def fastapi_route(endpoint: RealtimeEndpoint) -> Any:
    app = FastAPI()
    app.add_api_route("/", lambda: {"page": "home"})
    # Typed for request-response functions, but takes any ASGI app at runtime.
    app.add_route("/api/realtime", endpoint)  # type: ignore[arg-type]
    return app


async def read_two_frames(client: httpx.AsyncClient, realtime: Realtime, path: str) -> list[dict[str, Any]]:
    async with client.stream("GET", path, params={"channel": "news"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        parser = SSEParser()
        chunks = response.aiter_raw()
        frames: list[dict[str, Any]] = []
        emitted = False
        while len(frames) < 2:
            for event in parser.feed(await anext(chunks)):
                frames.append(orjson.loads(event.data))
            if frames and not emitted:
                emitted = True
                await realtime.channel("news").emit("posted", {"title": "hi"})
        return frames


@pytest.mark.parametrize(
    ("make_app", "path"),
    [
        (starlette_mount, "/api/realtime/"),
        (starlette_mount, "/api/realtime"),  # Starlette redirects to the slash; EventSource follows
        (starlette_route, "/api/realtime"),
        (fastapi_mount, "/api/realtime/"),
        (fastapi_route, "/api/realtime"),
    ],
)
async def test_endpoint_in_a_framework_streams(
    realtime: Realtime, serve: Serve, make_app: Any, path: str
) -> None:
    endpoint = handle(realtime)
    server = await serve(make_app(endpoint), endpoint=endpoint)
    async with httpx.AsyncClient(base_url=server.url, timeout=5, follow_redirects=True) as client:
        assert (await client.get("/")).status_code == 200
        frames = await read_two_frames(client, realtime, path)
        assert frames[0] == {"type": "connected", "channel": "news", "cursor": "0-0"}
        assert frames[1]["event"] == "posted"
        assert frames[1]["data"] == {"title": "hi"}
        refused = await client.post(path)
        assert refused.status_code == 405
        assert "method POST is not allowed" in refused.json()["error"]
