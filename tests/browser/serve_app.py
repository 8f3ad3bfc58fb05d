"""A real app for browser tests: tidings.asgi next to the test pages, in its own OS process.

    python tests/browser/serve_app.py --port 8123 [--redis URL --prefix P] [--retry-ms 300]

Routes:
  /api/realtime        the endpoint (the @upstash/realtime client's default URL)
  /api/short           the same channels, streams closed after --short-duration s
  /api/guarded         refuses channels whose name starts with "secret" (403)
  /api/token           TokenAuth(TOKEN_SECRET): the token goes in the page's api.url
  /api/present         streams with ?user=NAME in the URL are present on their channels as NAME
  /emit                POST {"channel", "event", "data"}: emit from this process
  /<file>              tests/browser/pages/<file> and dist/<file>

On SIGTERM every stream gets a ``reconnect`` frame before uvicorn stops: the
shutdown below first stops accepting connections, then closes the streams,
then lets uvicorn finish (which otherwise waits forever for open streams).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

from tidings import Realtime
from tidings.asgi import RealtimeEndpoint, Request, Response, TokenAuth, handle

HERE = Path(__file__).parent
TOKEN_SECRET = "browser-tests-secret-0123456789abcdef"
SEARCH = [HERE / "pages", HERE / "dist"]


def refuse_secrets(request: Request, channels: Sequence[str]) -> Response | None:
    secret = [channel for channel in channels if channel.startswith("secret")]
    if secret:
        return Response(403, {"error": f"channel {secret[0]!r} is not yours"})
    return None


def identify(request: Request, channel: str) -> tuple[str, Any] | None:
    user = request.query_params.get("user")
    return None if user is None else (user, {"name": user})


def build(realtime: Realtime, args: argparse.Namespace) -> tuple[Starlette, list[RealtimeEndpoint]]:
    common: dict[str, Any] = {"retry_ms": args.retry_ms, "ping_interval": args.ping}
    main = handle(realtime, **common)
    short = handle(realtime, max_duration=args.short_duration, **common)
    guarded = handle(realtime, middleware=refuse_secrets, **common)
    tokened = handle(realtime, middleware=TokenAuth(TOKEN_SECRET), **common)
    present = handle(realtime, presence=identify, **common)

    async def emit(request: StarletteRequest) -> JSONResponse:
        body = await request.json()
        event_id = await realtime.channel(body["channel"]).emit(body["event"], body["data"])
        return JSONResponse({"id": event_id})

    async def page(request: StarletteRequest) -> Any:
        name = request.path_params["name"]
        for folder in SEARCH:
            path = folder / name
            if path.is_file() and path.resolve().parent == folder.resolve():
                return FileResponse(path, headers={"cache-control": "no-store"})
        return PlainTextResponse(f"no page {name!r}", status_code=404)

    app = Starlette(
        routes=[
            Route("/api/realtime", main),
            Route("/api/short", short),
            Route("/api/guarded", guarded),
            Route("/api/token", tokened),
            Route("/api/present", present),
            Route("/emit", emit, methods=["POST"]),
            Route("/{name:str}", page),
        ]
    )
    return app, [main, short, guarded, tokened, present]


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, endpoints: list[RealtimeEndpoint]) -> None:
        super().__init__(config)
        self.endpoints = endpoints

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await asyncio.gather(*(endpoint.shutdown() for endpoint in self.endpoints))
        await super().shutdown(sockets)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--prefix", default="tidings-browser:")
    parser.add_argument("--retry-ms", type=int, default=300)
    parser.add_argument("--ping", type=float, default=30.0)
    parser.add_argument("--short-duration", type=float, default=1.0)
    args = parser.parse_args()
    redis = None if args.redis is None else f"{args.redis}?prefix={args.prefix}"
    realtime = Realtime(redis=redis)
    app, endpoints = build(realtime, args)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off", ws="none"
    )
    server = Server(config, endpoints)
    try:
        await server.serve()
    finally:
        await realtime.aclose()
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
