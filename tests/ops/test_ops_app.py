"""``tidings.ops`` in an app of one's own, and readiness decided in-process.

The handlers are plain ASGI, driven here through httpx's ASGI transport
(their responses are short, so nothing is buffered away); the readiness
check's cases that need a backend which does not answer use a backend made
to hang, as a real one would behind a dropped network.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount

from tests.asgi.live_server import LiveServer
from tests.support.redis_server import RedisServer
from tidings import MemoryBackend, Realtime
from tidings.asgi import handle
from tidings.ops import OpsApp, Readiness
from tidings.server import ServeConfig, ServerApp, build_app
from tidings.server._native_run import serve_app

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


async def client_of(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]


@pytest.fixture
async def realtime() -> AsyncIterator[Realtime]:
    async with Realtime() as realtime:
        yield realtime


async def test_the_three_handlers_in_a_starlette_app_that_mounts_handle(realtime: Realtime) -> None:
    # The docs' example: handle() mounted, the ops routes added.
    ops = OpsApp(realtime)
    app = Starlette(routes=[Mount("/api/realtime", handle(realtime)), *ops.routes()])
    await realtime.channel("c").emit("e", 1)
    async with await client_of(app) as http:
        assert (await http.get("/healthz")).json() == {"ok": True}
        assert (await http.get("/readyz")).json() == {"ready": True}
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "# TYPE tidings_emits_total counter" in metrics.text
        refused = await http.post("/healthz")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"
        head = await http.head("/readyz")
        assert (head.status_code, head.content) == (200, b"")


async def test_ops_app_alone_routes_exact_paths(realtime: Realtime) -> None:
    ops = OpsApp(realtime, healthz="/live", readyz=None, metrics=None)
    async with await client_of(ops) as http:
        assert (await http.get("/live")).status_code == 200
        for path in ("/readyz", "/metrics", "/live/", "/"):
            missing = await http.get(path)
            assert missing.status_code == 404, path
            assert missing.json() == {"error": f"no route for {path}"}


def test_paths_are_checked(realtime: Realtime) -> None:
    with pytest.raises(ValueError, match="healthz path must look like /healthz"):
        OpsApp(realtime, healthz="healthz")
    with pytest.raises(ValueError, match="distinct paths"):
        OpsApp(realtime, healthz="/x", readyz="/x")


class HangingBackend(MemoryBackend):
    """A backend that stops answering, as one behind a dropped network does."""

    async def ping(self) -> None:
        await asyncio.sleep(3600)


async def test_readiness_gives_up_after_its_timeout() -> None:
    async with Realtime(backend=HangingBackend()) as realtime:
        readiness = Readiness(realtime, timeout=0.05)
        async with asyncio.timeout(2):
            reason = await readiness.check()
    assert reason == "the event backend did not answer within 0.05 s (ready_timeout)"


async def test_a_closed_backend_is_not_ready() -> None:
    realtime = Realtime()
    await realtime.aclose()
    async with await client_of(OpsApp(realtime, metrics=None)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "reason": "the event backend was closed"}


async def test_the_server_app_is_not_ready_once_shutting_down() -> None:
    # What uvicorn's signal handler (chained by ServerApp) starts.
    app = build_app(ServeConfig(app="tests.cli.sample_app:in_memory"))
    async with await client_of(app) as http:
        assert (await http.get("/readyz")).status_code == 200
        app.begin_shutdown()
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"ready": False, "reason": "the server is shutting down"}
        assert (await http.get("/healthz")).status_code == 200  # still serving meanwhile


SlowApp = tuple[ServerApp, asyncio.Event, asyncio.Event]


@pytest.fixture
def slow_app() -> SlowApp:
    """The app of ``tidings serve`` with ``/slow``: a request in progress keeps a server in its
    graceful shutdown (it answers once ``release`` is set; ``arrived`` is set when it started)."""
    # The demo's Realtime: a new one per app (a module's would be closed by the first test's shutdown).
    app = build_app(ServeConfig(demo=True))
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> Response:
        arrived.set()
        await release.wait()
        return PlainTextResponse("done")

    app.add_route("/slow", slow)
    return app, arrived, release


async def test_uvicorn_is_not_ready_from_the_signal_on(slow_app: SlowApp) -> None:
    app, arrived, release = slow_app
    assert app.ops is not None
    server = LiveServer(app, lifespan="on")
    # The app chains itself in front of both handlers at startup: both are put back after.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def uvicorn_would(signum: int, frame: object) -> None:
        server.server.should_exit = True  # what uvicorn's own SIGTERM handler does

    signal.signal(signal.SIGTERM, uvicorn_would)
    try:
        await server.start()
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.url}/readyz")).status_code == 200
            in_progress = asyncio.create_task(http.get(f"{server.url}/slow"))
            await arrived.wait()
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            # uvicorn now waits for the request in progress; readiness already says no.
            assert await app.ops.readiness.check() == "the server is shutting down"
            release.set()
            assert (await in_progress).text == "done"
        await server.stop()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


async def test_the_native_server_is_not_ready_while_it_shuts_down(slow_app: SlowApp) -> None:
    app, arrived, release = slow_app
    assert app.ops is not None
    readiness = app.ops.readiness
    sock = socket.create_server(("127.0.0.1", 0))
    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(serve_app(app, sock, ready=ready.set, stop=stop, signals=()))
    await asyncio.wait([serving, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        serving.result()  # it could not start: say why
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/readyz")).status_code == 200
        in_progress = asyncio.create_task(http.get(f"{base}/slow"))
        await arrived.wait()
        stop.set()
        await asyncio.sleep(0.05)
        assert not serving.done()
        assert await readiness.check() == "the server is shutting down"
        release.set()
        assert (await in_progress).text == "done"
    await serving


async def test_every_metric_served_is_documented(realtime: Realtime) -> None:
    docs = OPERATIONS_DOC.read_text()
    async with await client_of(OpsApp(realtime)) as http:
        text = (await http.get("/metrics")).text
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    # 7 counters, 4 gauges, 2 labelled counters, the histogram (no workers here). The
    # backends' own stats() (tidings_backend_<stat>) come from every backend still alive in
    # this process, Redis ones of earlier tests included: checked below, not counted.
    own = [
        name
        for name in names
        if not name.startswith("tidings_backend_") or name.startswith("tidings_backend_resets")
    ]
    assert len(own) == 14, own
    for name in names:
        assert f"`{name}" in docs, name


async def test_every_metric_of_a_redis_backend_is_documented(redis_server: RedisServer) -> None:
    docs = OPERATIONS_DOC.read_text()
    async with Realtime(redis=redis_server.url) as realtime:
        await realtime.channel("c").emit("e", 1)
        async with await client_of(OpsApp(realtime)) as http:
            text = (await http.get("/metrics")).text
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    backend = [name for name in names if name.startswith("tidings_backend_")]
    # resets, and each of RedisBackend.stats(): 7 counters and 2 gauges.
    assert len(backend) == 10, backend
    for name in names:
        assert f"`{name}" in docs, name
