"""The SSE server under test, in its own process: tidings, or the stack a Python user would assemble.

    python -m bench.sse_server --stack tidings|native|broadcaster|bare --port P [--redis URL]

* ``tidings``: ``tidings.asgi.handle(Realtime())`` (memory backend, or Redis with ``--redis``);
* ``native``: the same endpoint served by ``tidings.asgi.serve_native`` (asyncio protocol, no
  uvicorn in the data path; the ``/bench/*`` routes are its fallback app);
* ``broadcaster``: ``broadcaster.Broadcast("memory://")`` (or ``redis://``) + ``sse-starlette``'s
  ``EventSourceResponse`` in a Starlette app -- the usual recipe;
* ``bare``: an ASGI app that answers an SSE stream and then waits for the disconnect:
  the floor of what uvicorn itself costs per connection.

All others run under uvicorn; all use uvloop and httptools. ``/bench/*`` routes drive the
run: ``/bench/emit?rate=R&seconds=S&channels=K`` emits ``{"q": seq, "t": µs}``
(per-channel sequence numbers, emit time on CLOCK_MONOTONIC) round-robin over
channels ``c0..c{K-1}`` at R events/s and answers with the last sequence number
of each channel; ``/bench/stats`` reports connections and RSS; ``/bench/gc``
collects (and, with ``freeze=1``, freezes) the heap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from bench._common import install_uvloop, raise_fd_limit, rss_bytes
from bench._page import BROADCAST, PageEmitter
from bench._page import Publish as PublishNamed

Publish = Callable[[int, bytes], Awaitable[object]]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

CHANNELS = [f"c{i}" for i in range(10_000)]


class Control:
    """The ``/bench/*`` routes, shared by every stack."""

    def __init__(
        self,
        publish: Callable[[int, dict[str, int]], Awaitable[object]],
        count: Callable[[], int],
        publish_named: PublishNamed | None = None,
    ):
        self._publish = publish
        self._count = count
        self._seqs = [0] * len(CHANNELS)
        self._page = PageEmitter(publish_named) if publish_named is not None else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        path = scope["path"].rsplit("/", 1)[-1]
        if path == "emit":
            body = await self._emit(float(query["rate"]), float(query["seconds"]), int(query["channels"]))
        elif path == "page" and self._page is not None:
            body = await self._page.run(
                float(query["rate"]), float(query["user_rate"]), float(query["seconds"]), int(query["users"])
            )
        elif path == "stats":
            body = {
                "rss": rss_bytes(os.getpid()),
                "connections": self._count(),
                "tasks": len(asyncio.all_tasks()),
            }
        elif path == "gc":
            gc.collect()
            if query.get("freeze") == "1":
                gc.freeze()
            body = {"rss": rss_bytes(os.getpid())}
        else:
            body = {"error": "unknown"}
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(payload)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _emit(self, rate: float, seconds: float, channels: int) -> dict[str, Any]:
        """Emit ``rate * seconds`` events, paced every ~2 ms; bounded to ``seconds + 10`` s."""
        loop = asyncio.get_running_loop()
        total = int(rate * seconds)
        seqs = self._seqs
        publish = self._publish
        started = loop.time()
        hard_stop = started + seconds + 10
        emitted = 0
        turn = 0
        while emitted < total:
            now = loop.time()
            if now > hard_stop:
                break
            due = min(total, int((now - started) * rate) + 1) - emitted
            for _ in range(due):
                index = turn % channels
                turn += 1
                seq = seqs[index]
                seqs[index] = seq + 1
                await publish(index, {"q": seq, "t": time.monotonic_ns() // 1000})
            emitted += due
            await asyncio.sleep(0.002)
        return {"emitted": emitted, "seconds": loop.time() - started, "last": seqs[:channels]}


TIDINGS_OPTIONS: dict[str, Any] = {"ping_interval": 60, "max_connections": None, "max_channels": 4}


def tidings_control(realtime: Any, count: Callable[[], int]) -> Control:
    handles = [realtime.channel(name) for name in CHANNELS]
    named: dict[str, Any] = {}

    async def publish(index: int, data: dict[str, int]) -> object:
        return await handles[index].emit("tick", data)

    async def publish_named(name: str, data: dict[str, int]) -> object:
        handle = named.get(name)
        if handle is None:
            handle = named[name] = realtime.channel(name)
        return await handle.emit("tick", data)

    return Control(publish, count, publish_named)


def with_metrics(realtime: Any, app: ASGIApp) -> ASGIApp:
    """``app`` with tidings' Prometheus ``/metrics`` in front of it (``--metrics``)."""
    from tidings.ops import OpsApp

    ops = OpsApp(realtime, healthz=None, readyz=None)

    async def routed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await ops(scope, receive, send)
        else:
            await app(scope, receive, send)

    return routed


def tidings_app(redis: str | None, *, metrics: bool = False) -> ASGIApp:
    from tidings import Realtime
    from tidings.asgi import handle

    realtime = Realtime(redis=redis, max_length=1000)
    endpoint = handle(realtime, **TIDINGS_OPTIONS)
    control = tidings_control(realtime, lambda: len(endpoint._connections))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/bench/"):
            await control(scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    # One more path comparison per request (not per frame) with --metrics.
    return with_metrics(realtime, app) if metrics else app


def broadcaster_app(redis: str | None) -> ASGIApp:
    from broadcaster import Broadcast
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Mount, Route

    broadcast = Broadcast(redis or "memory://")
    live = [0]  # open streams, each subscribed to all of its channels

    async def stream(request: Request) -> EventSourceResponse:
        channels = list(dict.fromkeys(request.query_params.getlist("channel"))) or ["default"]

        async def one(channel: str) -> Any:
            async with broadcast.subscribe(channel=channel) as subscriber:
                live[0] += 1
                try:
                    async for event in subscriber:
                        yield {"data": event.message}
                finally:
                    live[0] -= 1

        async def merged() -> Any:
            # broadcaster subscribes to one channel at a time: a page on several
            # channels merges its subscriptions through a queue, the usual recipe.
            queue: asyncio.Queue[str] = asyncio.Queue()
            async with contextlib.AsyncExitStack() as stack:
                subscribers = [
                    await stack.enter_async_context(broadcast.subscribe(channel=c)) for c in channels
                ]

                async def pump(subscriber: Any) -> None:
                    async for event in subscriber:
                        queue.put_nowait(event.message)

                pumps = [asyncio.create_task(pump(s)) for s in subscribers]
                live[0] += 1
                try:
                    while True:
                        yield {"data": await queue.get()}
                finally:
                    live[0] -= 1
                    for task in pumps:
                        task.cancel()

        events = one(channels[0]) if len(channels) == 1 else merged()
        return EventSourceResponse(events, ping=600, sep="\n")

    async def publish(index: int, data: dict[str, int]) -> object:
        return await broadcast.publish(channel=CHANNELS[index], message=orjson.dumps(data).decode())

    async def publish_named(name: str, data: dict[str, int]) -> object:
        return await broadcast.publish(channel=name, message=orjson.dumps(data).decode())

    control = Control(publish, lambda: live[0], publish_named)

    async def lifespan(app: Any) -> Any:
        await broadcast.connect()
        # broadcaster 0.3 races when streams subscribe to a channel nobody holds yet on
        # Redis: each awaits the backend's SUBSCRIBE, then replaces the channel's set of
        # queues, so all but the last stream never receive anything. Holding the shared
        # channels open from the start is the workaround an app would need.
        async with contextlib.AsyncExitStack() as held:
            if redis:
                for channel in (BROADCAST, CHANNELS[0]):
                    await held.enter_async_context(broadcast.subscribe(channel=channel))
            yield
        await broadcast.disconnect()

    return Starlette(
        routes=[Route("/api/realtime", stream), Mount("/bench", app=control)],
        lifespan=contextlib.asynccontextmanager(lifespan),
    )


def bare_app() -> ASGIApp:
    open_streams = [0]

    async def publish(index: int, data: dict[str, int]) -> object:
        return None

    control = Control(publish, lambda: open_streams[0])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/bench/"):
            await control(scope, receive, send)
            return
        open_streams[0] += 1
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
                }
            )
            await send({"type": "http.response.body", "body": b": hi\n\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            open_streams[0] -= 1

    return app


async def serve_native(port: int, redis: str | None, *, metrics: bool = False) -> None:
    from tidings import Realtime
    from tidings.asgi import serve_native

    realtime = Realtime(redis=redis, max_length=1000)
    servers: list[Any] = []  # the control counts the streams of the server it is part of
    control: Any = tidings_control(realtime, lambda: len(servers[0].endpoint._connections))
    if metrics:
        control = with_metrics(realtime, control)
    server = await serve_native(
        realtime, "127.0.0.1", port, backlog=4096, fallback=control, **TIDINGS_OPTIONS
    )
    servers.append(server)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=["tidings", "native", "broadcaster", "bare"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis")
    parser.add_argument("--metrics", action="store_true", help="tidings stacks: also serve /metrics")
    args = parser.parse_args()
    raise_fd_limit()
    install_uvloop()
    if args.stack == "native":
        asyncio.run(serve_native(args.port, args.redis, metrics=args.metrics))
        return
    import uvicorn

    if args.stack == "tidings":
        app = tidings_app(args.redis, metrics=args.metrics)
    elif args.stack == "broadcaster":
        app = broadcaster_app(args.redis)
    else:
        app = bare_app()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on" if args.stack == "broadcaster" else "off",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
