"""A separate OS process serving present SSE streams on Redis, for tests that ``kill -9`` it.

    python -m tests.redis.presence_server SERVER URL PREFIX TTL

SERVER is ``native`` (``serve_native``) or ``uvicorn`` (a Starlette app
mounting ``handle()`` at ``/api/realtime``). Either way a stream whose URL
carries ``client=ID`` enters presence as ID on its channels, with
``Realtime(presence_ttl=TTL)`` and a short grace. Prints ``serving PORT
STREAM_PATH`` and serves until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from tests.asgi.live_server import LiveServer
from tests.redis.presence_process import prefixed
from tidings import Realtime
from tidings.asgi import Request, handle, serve_native

PATH = "/api/realtime"
GRACE = 0.2  # a stream that closes leaves this long after; a killed server never gets there


def identify(request: Request, channel: str) -> tuple[str, Any] | None:
    client = request.query_params.get("client")
    return None if client is None else (client, {"client": client})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server", choices=["native", "uvicorn"])
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("ttl", type=float)
    args = parser.parse_args()
    realtime = Realtime(redis=prefixed(args.url, args.prefix), presence_ttl=args.ttl)
    options: dict[str, Any] = {"presence": identify, "presence_grace": GRACE}
    if args.server == "native":
        port, stream_path = (await serve_native(realtime, "127.0.0.1", 0, path=PATH, **options)).port, PATH
    else:
        app = Starlette(routes=[Mount(PATH, handle(realtime, **options))])
        # Starlette's Mount answers PATH with a redirect to the slash.
        port, stream_path = (await LiveServer(app).start()).port, PATH + "/"
    print("serving", port, stream_path, flush=True)
    await asyncio.get_running_loop().create_future()  # until killed


if __name__ == "__main__":
    asyncio.run(main())
