"""Bad input and limits: 4xx/503 with a JSON error that names the problem, and no stream."""

from __future__ import annotations

import pytest

from tests.support.redis_server import free_port
from tests.support.waiting import wait_until
from tidings import Limits, Realtime
from tidings.asgi import handle
from tidings.redis import RedisBackend

from .conftest import Open, Serve


@pytest.mark.parametrize(
    ("target", "status", "words"),
    [
        ("/?channel=a%20b", 400, ["invalid channel name 'a b'", "whitespace"]),
        ("/?channel=", 400, ["invalid channel name ''", "empty"]),
        ("/?channel=x&last_ack_x=yesterday", 400, ["last_ack_x", "'yesterday'", "neither an event id"]),
        ("/?channel=x&last_ack_x=1-2-3", 400, ["last_ack_x"]),
        ("/?channel=x&last_ack_x=", 400, ["last_ack_x"]),
        (
            "/?" + "&".join(f"channel=c{n}" for n in range(5)),
            400,
            ["5 channels", "limit is 4", "max_channels"],
        ),
    ],
)
async def test_bad_requests_get_400_naming_the_problem(
    realtime: Realtime, serve: Serve, open_stream: Open, target: str, status: int, words: list[str]
) -> None:
    server = await serve(handle(realtime, max_channels=4))
    response = await open_stream(server, target)
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    error = (await response.json())["error"]
    for word in words:
        assert word in error
    assert realtime.backend.live_listener_count() == 0


async def test_channel_longer_than_the_realtime_limit(serve: Serve, open_stream: Open) -> None:
    async with Realtime(limits=Limits(max_channel_length=8)) as realtime:
        server = await serve(handle(realtime))
        response = await open_stream(server, "/?channel=" + "x" * 9)
        assert response.status == 400
        assert "max_channel_length" in (await response.json())["error"]


async def test_malformed_last_event_id_is_refused(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    server = await serve(handle(realtime))
    response = await open_stream(server, "/?channel=a", headers={"Last-Event-ID": "not-a-cursor"})
    assert response.status == 400
    assert "Last-Event-ID" in (await response.json())["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
async def test_other_methods_get_405(
    realtime: Realtime, serve: Serve, open_stream: Open, method: str
) -> None:
    server = await serve(handle(realtime))
    response = await open_stream(server, "/?channel=a", method=method, headers={"Content-Length": "0"})
    assert response.status == 405
    assert response.headers["allow"] == "GET, OPTIONS"
    if method != "HEAD":
        assert f"method {method} is not allowed" in (await response.json())["error"]


async def test_connections_beyond_max_connections_get_503(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    endpoint = handle(realtime, max_connections=2)
    server = await serve(endpoint)
    held = [await open_stream(server, "/?channel=a") for _ in range(2)]
    for stream in held:
        await stream.frames(1)
    refused = await open_stream(server, "/?channel=a")
    assert refused.status == 503
    assert (await refused.json())["error"] == "too many open streams: 2; the limit is 2 (max_connections)"
    await held[0].close()
    await wait_until(lambda: endpoint.stats().connections == 1)
    accepted = await open_stream(server, "/?channel=a")
    assert accepted.status == 200


async def test_replay_beyond_max_replay_is_reported_never_silently_cut(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    ids = [id_ for id_ in await realtime.channel("c").emit_many([("n", n) for n in range(50)])]
    server = await serve(handle(realtime, max_replay=10))
    stream = await open_stream(server, f"/?channel=c&last_ack_c={ids[0]}")
    frames = await stream.frames(12)
    assert frames[0].data["type"] == "connected"
    assert [f.data["id"] for f in frames[1:11]] == ids[1:11]
    error = frames[11].data
    assert error["type"] == "error"
    assert "max_replay" in error["error"] and "at most 10" in error["error"]
    assert f"after {ids[10]} up to {ids[-1]} were skipped" in error["error"]
    # The cursor moves past what was skipped, so a resume does not hit it again ...
    assert frames[11].id.endswith(ids[-1])
    # ... and live delivery goes on.
    live = await realtime.channel("c").emit("n", "live")
    (frame,) = await stream.frames(1)
    assert frame.data["id"] == live
    assert realtime.backend.live_listener_count() == 1


async def test_replay_limit_counts_every_channel_of_the_connection(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    a = await realtime.channel("a").emit_many([("n", n) for n in range(6)])
    b = await realtime.channel("b").emit_many([("n", n) for n in range(6)])
    server = await serve(handle(realtime, max_replay=10))
    stream = await open_stream(server, "/?channel=a&channel=b&last_ack_a=0-0&last_ack_b=0-0")
    frames = await stream.frames(2 + 10 + 1)
    replayed = [f.data["id"] for f in frames if "id" in f.data]
    assert len(replayed) == 10
    assert set(replayed) <= set(a) | set(b)
    assert [f.data["type"] for f in frames if "type" in f.data].count("error") == 1


async def test_trimmed_history_is_reported_then_resumes_from_the_oldest_kept(
    serve: Serve, open_stream: Open
) -> None:
    async with Realtime(max_length=3) as realtime:
        ids = await realtime.channel("c").emit_many([("n", n) for n in range(10)])
        server = await serve(handle(realtime))
        stream = await open_stream(server, f"/?channel=c&last_ack_c={ids[0]}")
        frames = await stream.frames(5)
        assert frames[0].data["type"] == "connected"
        assert frames[1].data["type"] == "error"
        assert "events lost on channel 'c'" in frames[1].data["error"]
        assert [f.data["id"] for f in frames[2:]] == ids[-3:]


async def test_unreachable_backend_gets_503(serve: Serve, open_stream: Open) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", command_timeout=0.3)
    async with Realtime(backend=backend) as realtime:
        endpoint = handle(realtime)
        server = await serve(endpoint)
        response = await open_stream(server, "/?channel=a")
        assert response.status == 503
        assert (await response.json())["error"].startswith("the event backend is unavailable: ")
        assert endpoint.stats().connections == 0
    await backend.aclose()


async def test_closed_realtime_gets_503(serve: Serve, open_stream: Open) -> None:
    realtime = Realtime()
    await realtime.aclose()
    server = await serve(handle(realtime))
    response = await open_stream(server, "/?channel=a")
    assert response.status == 503
    assert "this Realtime was closed" in (await response.json())["error"]
