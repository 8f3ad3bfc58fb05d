"""The app ``tidings serve`` builds, in-process: a Starlette app with JSON refusals and lifespan hooks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount

from tidings.asgi import RealtimeEndpoint
from tidings.server import ServeConfig, ServerApp, build_app
from tidings.server._app import StartupError

APP = "tests.cli.sample_app:realtime"
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """A started app chains itself in front of the process's handlers: put them back after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@asynccontextmanager
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        yield http


async def test_routing_refusals_are_json_in_our_words() -> None:
    app = build_app(ServeConfig(app=APP, api_token=TOKEN, demo=True))
    async with client(app) as http:
        nowhere = await http.get("/nowhere")
        assert (nowhere.status_code, nowhere.json()) == (404, {"error": "no route for /nowhere"})
        assert nowhere.headers["cache-control"] == "no-store"
        # Exact paths: a trailing '/' is not found, not redirected.
        slash = await http.get("/api/realtime/emit/")
        assert (slash.status_code, slash.json()) == (404, {"error": "no route for /api/realtime/emit/"})
        wrong = await http.get("/api/realtime/emit")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
        assert wrong.json() == {"error": "GET is not allowed here; use POST"}
        page = await http.post("/")
        assert (page.status_code, page.headers["allow"]) == (405, "GET, HEAD")
        assert page.json() == {"error": "POST is not allowed here; use GET, HEAD"}


async def test_the_demo_page_and_its_static_files() -> None:
    app = build_app(ServeConfig(demo=True))
    async with client(app) as http:
        page = await http.get("/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert b"/api/realtime" in page.content
        script = await http.get("/static/tidings.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert (await http.get("/static/nope.js")).status_code == 404
        bad_room = await http.get("/demo/history", params={"room": "NO ROOM"})
        assert bad_room.status_code == 422
        assert set(bad_room.json()["fields"]) == {"room"}


async def test_the_app_is_a_starlette_app_to_extend_and_mount() -> None:
    app = build_app(ServeConfig(app=APP, api_token=TOKEN))
    assert isinstance(app, Starlette)

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.add_route("/health", health)
    outer = Starlette(routes=[Mount("/rt", app=app)])
    async with client(outer) as http:
        assert (await http.get("/rt/health")).text == "ok"
        history = await http.get(
            "/rt/api/realtime/history",
            params={"channel": "notes"},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert (history.status_code, history.json()) == (200, {"messages": []})
        stream = await http.post("/rt/api/realtime")  # the SSE endpoint refuses it itself
        assert stream.status_code == 405


async def lifespan(app: Any, *, then: str = "lifespan.shutdown") -> list[dict[str, Any]]:
    """Drive ``app``'s ASGI lifespan as a server would: startup, then ``then``."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    for message in ("lifespan.startup", then):
        incoming.put_nowait({"type": message})

    async def send(message: Any) -> None:
        sent.append(dict(message))

    with contextlib.suppress(StartupError):  # Starlette re-raises it after reporting; servers ignore it
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, incoming.get, send)
    return sent


def recording(calls: list[str], name: str) -> Callable[[], Awaitable[None]]:
    """A hook that notes ``name`` in ``calls`` when it runs."""

    async def hook() -> None:
        calls.append(name)

    return hook


async def test_the_lifespan_runs_startup_then_shutdown_hooks() -> None:
    app = ServerApp()
    calls: list[str] = []
    app.on_startup(recording(calls, "start"))
    app.on_shutdown(recording(calls, "first added"))
    app.on_shutdown(recording(calls, "last added"))
    sent = await lifespan(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert calls == ["start", "last added", "first added"]


async def test_a_startup_refusal_is_one_line_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    app = ServerApp()

    async def refuse() -> None:
        raise StartupError("cannot reach the event backend: nobody home")

    app.on_startup(refuse)
    sent = await lifespan(app)
    assert sent == [{"type": "lifespan.startup.failed", "message": ""}]
    assert capsys.readouterr().err == "error: cannot reach the event backend: nobody home\n"


async def test_a_mounted_app_runs_its_lifespan_from_the_outer_one() -> None:
    inner = ServerApp()
    calls: list[str] = []
    inner.on_startup(recording(calls, "start"))
    inner.on_shutdown(recording(calls, "stop"))

    @asynccontextmanager
    async def outer_lifespan(app: Starlette) -> AsyncIterator[None]:  # as docs/cli.md shows
        async with inner.router.lifespan_context(inner):
            yield

    outer = Starlette(routes=[Mount("/rt", app=inner)], lifespan=outer_lifespan)
    sent = await lifespan(outer)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert calls == ["start", "stop"]


class RecordingEndpoint(RealtimeEndpoint):
    """Answers 204 and notes the ``send`` it was given."""

    def __init__(self) -> None:
        self.sends: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.sends.append(send)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_a_stream_writes_to_the_servers_send_unless_middleware_was_added() -> None:
    app = ServerApp()
    endpoint = RecordingEndpoint()
    app.add_stream("/s", endpoint)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/s",
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    messages: list[Any] = []

    async def send(message: Any) -> None:
        messages.append(message)

    await app(dict(scope), asyncio.Queue().get, send)
    assert endpoint.sends == [send]  # no per-frame wrapper on the hot path

    seen: list[str] = []

    class Note:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["path"])
            await self.inner(scope, receive, send)

    app.add_middleware(Note)
    await app(dict(scope), asyncio.Queue().get, send)
    assert seen == ["/s"]
    assert [m.get("status") for m in messages if m["type"] == "http.response.start"] == [204, 204]
