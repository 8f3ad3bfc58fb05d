"""``tidings serve APP`` as a real process, and the CLI talking to it over HTTP.

Every test that serves runs twice: under uvicorn (the default) and under the
native server (``--native``), which must serve exactly the same.
"""

from __future__ import annotations

import signal
import socket
import time

import httpx
import orjson
import pytest

from tests.support.redis_server import RedisServer, free_port
from tidings import Realtime

from .conftest import TOKEN, RunHere
from .processes import UNREACHABLE_REDIS, TidingsProcess, assert_one_line_error, cli_env, run_cli
from .stored import emit, stored

APP = "tests.cli.sample_app:realtime"


def endpoint(server: TidingsProcess) -> str:
    return f"{server.base}/api/realtime"


def test_banner_names_the_endpoint_and_the_api(server: TidingsProcess) -> None:
    out = "".join(server.stdout)
    assert f"serving {APP} at {server.base}/api/realtime" in out
    assert f"JSON API at {server.base}/api/realtime/emit and {server.base}/api/realtime/history" in out


# -- the stream ------------------------------------------------------------------------------


async def test_a_stream_gets_events_from_the_api_and_from_other_processes(
    server: TidingsProcess, redis_url: str
) -> None:
    url = endpoint(server)
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", url, params={"channel": "live"}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"
        chunks = stream.aiter_text()
        text = await anext(chunks)
        assert '"type":"connected","channel":"live"' in text
        answer = await http.post(
            f"{url}/emit",
            headers=auth,
            json={"channel": "live", "event": "note.added", "data": {"text": "hi"}},
        )
        (through_api,) = answer.json()["ids"]
        (elsewhere,) = await emit(redis_url, "live", ("counter.tick", 7))
        while elsewhere not in text:
            text += await anext(chunks)
    assert (
        f'data: {{"id":"{through_api}","event":"note.added","channel":"live","data":{{"text":"hi"}}}}\n'
        in text
    )
    assert f'data: {{"id":"{elsewhere}","event":"counter.tick","channel":"live","data":7}}\n' in text


async def test_cors_origins_reach_the_stream(redis_url: str, flags: tuple[str, ...]) -> None:
    origin = "https://app.example"
    server = TidingsProcess("serve", APP, "--port", "0", "--cors-origin", origin, *flags,
                            env=cli_env(SAMPLE_REDIS_URL=redis_url)).start()  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            preflight = await http.options(
                endpoint(server), headers={"origin": origin, "access-control-request-method": "GET"}
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == origin
            refused = await http.get(endpoint(server), params={"channel": "a b"}, headers={"origin": origin})
            assert refused.status_code == 400
            assert refused.headers["access-control-allow-origin"] == origin
            async with http.stream(
                "GET", endpoint(server), params={"channel": "c"}, headers={"origin": origin}
            ) as stream:
                assert stream.status_code == 200
                assert stream.headers["access-control-allow-origin"] == origin
    finally:
        assert server.stop() == 0, server.errors


# -- the CLI over --url ----------------------------------------------------------------------


async def test_emit_and_history_over_url(server: TidingsProcess, redis_url: str) -> None:
    url = endpoint(server)
    one = run_cli("emit", "--url", url, "--token", TOKEN, "notes", "note.added", '{"text": "a"}')
    assert one.returncode == 0, one.stderr
    bulk = run_cli("emit", "--url", url, "notes", "note.added", "-", stdin='{"text": "b"}\n{"text": "c"}\n',
                   env=cli_env(TIDINGS_API_TOKEN=TOKEN))  # fmt: skip
    assert bulk.returncode == 0, bulk.stderr
    ids = one.stdout.split() + bulk.stdout.split()
    assert [m["id"] for m in await stored(redis_url, "notes")] == ids

    history = run_cli("history", "--url", url, "--token", TOKEN, "notes", "--limit", "2", "--json")
    assert history.returncode == 0, history.stderr
    assert [orjson.loads(line) for line in history.stdout.splitlines()] == [
        {"id": ids[1], "event": "note.added", "channel": "notes", "data": {"text": "b"}},
        {"id": ids[2], "event": "note.added", "channel": "notes", "data": {"text": "c"}},
    ]


async def test_presence_over_url(run_here: RunHere, server: TidingsProcess, redis_url: str) -> None:
    url = endpoint(server)
    async with Realtime(redis=redis_url) as realtime:
        await realtime.channel("notes").enter("ada", {"name": "Ada"})
        await realtime.channel("notes").enter("bob")
        listed = run_cli("presence", "--url", url, "--token", TOKEN, "notes", "--json", "--limit", "1")
        assert listed.returncode == 0, listed.stderr
        [member] = [orjson.loads(line) for line in listed.stdout.splitlines()]
        assert (member["client_id"], member["info"]) == ("ada", {"name": "Ada"})
        table = run_cli("presence", "--url", url, "--token", TOKEN, "notes")
        assert "notes: 2 member(s)" in table.stdout, table.stderr
    missing = run_here("presence", "--url", url, "notes")
    assert_one_line_error(missing, 2, "needs the server's API token")
    bad = run_here("presence", "--url", url, "--token", TOKEN, "notes", "--limit", "5000")
    assert_one_line_error(bad, 2, "max_presence_members")


async def test_schema_violations_over_url_are_exit_2_and_store_nothing(
    run_here: RunHere, server: TidingsProcess, redis_url: str
) -> None:
    url = endpoint(server)
    unknown = run_here("emit", "--url", url, "--token", TOKEN, "notes", "note.gone", "{}")
    assert_one_line_error(unknown, 2, "unknown event 'note.gone'")
    invalid = run_here("emit", "--url", url, "--token", TOKEN, "notes", "note.added", '{"text": ""}')
    assert_one_line_error(invalid, 2, "invalid data for event 'note.added'", "field 'text'")
    assert await stored(redis_url, "notes") == []


def test_token_and_url_mistakes(run_here: RunHere, server: TidingsProcess) -> None:
    url = endpoint(server)
    wrong = run_here("emit", "--url", url, "--token", "x" * 20, "notes", "note.added", '{"text": "a"}')
    assert_one_line_error(wrong, 2, "the server refused the API token: invalid API token")
    missing = run_here("history", "--url", url, "notes")
    assert_one_line_error(missing, 2, "needs the server's API token")
    not_found = run_here("history", "--url", f"{server.base}/elsewhere", "--token", TOKEN, "notes")
    assert_one_line_error(not_found, 1, "not found (404)")


def test_unreachable_server_is_exit_1(run_here: RunHere) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/realtime"
    for args in (
        ["emit", "--token", TOKEN, "c", "e", "1"],
        ["history", "--token", TOKEN, "c"],
        ["tail", "c"],
    ):
        assert_one_line_error(run_here(args[0], "--url", url, *args[1:]), 1, "cannot reach the server")


async def test_tail_over_url_after_an_id(server: TidingsProcess, redis_url: str) -> None:
    (marker,) = await emit(redis_url, "notes", ("note.added", {"text": "marker"}))
    tail = TidingsProcess(
        "tail", "--url", endpoint(server), "notes", "--after", marker, "--json", "--count", "2"
    )
    tail.start(wait_for_url=False)
    try:
        await emit(redis_url, "notes", ("note.added", {"text": "one"}), ("counter.tick", 2))
        lines = tail.wait_lines(2)
        assert tail.wait() == 0, tail.errors
    finally:
        tail.stop()
    assert [orjson.loads(line)["data"] for line in lines] == [{"text": "one"}, 2]
    listening = (
        f"tidings: listening to 'notes' (all events) on the server at {endpoint(server)}; Ctrl-C to stop"
    )
    assert tail.errors == listening + "\n"


async def test_tail_over_url_with_history_leaves_no_gap(server: TidingsProcess, redis_url: str) -> None:
    await emit(redis_url, "notes", *[("counter.tick", i) for i in range(4)])
    tail = TidingsProcess("tail", "--url", endpoint(server), "--token", TOKEN, "notes", "--history", "2",
                          "--json", "--count", "4")  # fmt: skip
    tail.start(wait_for_url=False)
    try:
        tail.wait_lines(2)  # the history part; the stream may not be open yet
        await emit(redis_url, "notes", ("counter.tick", 4), ("counter.tick", 5))
        lines = tail.wait_lines(4)
        assert tail.wait() == 0, tail.errors
    finally:
        tail.stop()
    assert [orjson.loads(line)["data"] for line in lines] == [2, 3, 4, 5]


# -- the JSON API itself -----------------------------------------------------------------------


async def test_json_api_contract(server: TidingsProcess, redis_url: str) -> None:
    base = endpoint(server)
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.post(f"{base}/emit", json={"channel": "c", "event": "counter.tick", "data": 1})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.get(
            f"{base}/history", params={"channel": "c"}, headers={"authorization": "Bearer no"}
        )
        assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid API token"})

        one = await http.post(
            f"{base}/emit", headers=auth, json={"channel": "c", "event": "counter.tick", "data": 1}
        )
        assert one.status_code == 200
        (first,) = one.json()["ids"]
        batch = await http.post(
            f"{base}/emit",
            headers=auth,
            json={
                "channel": "c",
                "events": [{"event": "counter.tick", "data": 2}, {"event": "counter.tick", "data": 3}],
            },
        )
        assert batch.status_code == 200
        assert len(batch.json()["ids"]) == 2

        atomic = await http.post(
            f"{base}/emit",
            headers=auth,
            json={
                "channel": "c",
                "events": [{"event": "counter.tick", "data": 4}, {"event": "counter.tick", "data": "x"}],
            },
        )
        assert atomic.status_code == 422
        assert atomic.json()["type"] == "InvalidDataError"
        assert "counter.tick" in atomic.json()["error"]

        unknown = await http.post(
            f"{base}/emit", headers=auth, json={"channel": "c", "event": "nope", "data": 1}
        )
        assert (unknown.status_code, unknown.json()["type"]) == (422, "UnknownEventError")
        bad_channel = await http.post(
            f"{base}/emit", headers=auth, json={"channel": "a b", "event": "x", "data": 1}
        )
        assert (bad_channel.status_code, bad_channel.json()["type"]) == (422, "InvalidChannelError")
        not_json = await http.post(f"{base}/emit", headers=auth, content=b"{nope")
        assert not_json.status_code == 400
        assert "not valid JSON" in not_json.json()["error"]
        no_data = await http.post(
            f"{base}/emit", headers=auth, json={"channel": "c", "event": "counter.tick"}
        )
        assert (no_data.status_code, no_data.json()) == (
            400,
            {"error": "missing field 'data' (use null for no data)"},
        )
        too_big = await http.post(f"{base}/emit", headers=auth, content=b" " * (9 * 1024 * 1024))
        assert (too_big.status_code, too_big.json()) == (
            413,
            {"error": f"request body is {9 * 1024 * 1024} bytes; the limit is {8 * 1024 * 1024}"},
        )

        wrong_method = await http.get(f"{base}/emit", headers=auth)
        assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
        assert (await http.get(f"{server.base}/nowhere")).status_code == 404

        history = await http.get(f"{base}/history", headers=auth, params={"channel": "c", "after": first})
        assert history.status_code == 200
        assert [m["data"] for m in history.json()["messages"]] == [2, 3]
        bad_after = await http.get(f"{base}/history", headers=auth, params={"channel": "c", "after": "zz"})
        assert (bad_after.status_code, bad_after.json()["type"]) == (422, "InvalidArgumentError")
        no_channel = await http.get(f"{base}/history", headers=auth)
        assert no_channel.status_code == 400
    assert [m["data"] for m in await stored(redis_url, "c")] == [1, 2, 3]


# -- shutdown --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_shutdown_sends_open_streams_a_reconnect_frame_and_exits_promptly(
    redis_url: str, sig: signal.Signals, flags: tuple[str, ...]
) -> None:
    server = TidingsProcess(
        "serve", APP, "--port", "0", *flags, env=cli_env(SAMPLE_REDIS_URL=redis_url)
    ).start()
    try:
        async with (
            httpx.AsyncClient(timeout=10) as http,
            http.stream("GET", f"{server.base}/api/realtime", params={"channel": "notes"}) as stream,
        ):
            assert stream.status_code == 200
            chunks = stream.aiter_text()
            assert '"type":"connected"' in await anext(chunks)
            began = time.monotonic()
            server.send(sig)
            rest = "".join([chunk async for chunk in chunks])
        assert '"type":"reconnect"' in rest
        assert server.wait(timeout=10) == 0
        assert time.monotonic() - began < 5
        assert "Traceback" not in server.errors
    finally:
        server.stop()


# -- startup mistakes ----------------------------------------------------------------------------------


def test_port_in_use_is_one_line_exit_1(run_here: RunHere, flags: tuple[str, ...]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_here("serve", APP, "--port", str(port), *flags)
        assert_one_line_error(result, 1, f"port {port} on 127.0.0.1 is already in use")
        demo = run_here("demo", "--port", str(port), *flags)
        assert_one_line_error(demo, 1, "already in use", "--port")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["tests.cli.sample_app:nothing"], "has no attribute 'nothing'"),
        (["tests.cli.broken_app:realtime"], "the configuration file is missing"),
        (["nonsense"], "APP must look like 'module:attribute'"),
        ([APP, "--workers", "2"], "--workers 2 needs a backend the workers share"),
        ([APP, "--path", "api/"], "--path must look like /api/realtime"),
        ([APP, "--api-token", "short"], "at least 16 characters"),
        ([APP, "--cors-origin", "example.com"], "is not an origin"),
    ],
)
def test_serve_mistakes_are_one_line_exit_2(
    run_here: RunHere, args: list[str], fragment: str, flags: tuple[str, ...]
) -> None:
    assert_one_line_error(run_here("serve", *args, "--port", "0", *flags), 2, fragment)


def test_unreachable_backend_stops_startup_with_one_line(flags: tuple[str, ...]) -> None:
    result = run_cli("serve", APP, "--port", "0", *flags, env=cli_env(SAMPLE_REDIS_URL=UNREACHABLE_REDIS))
    assert_one_line_error(result, 1, "cannot reach the event backend", "within 0.3 s")
    assert result.stdout == ""


def test_a_slow_backend_at_startup_is_named_while_serve_waits(flags: tuple[str, ...]) -> None:
    # command_timeout longer than the 0.5 s after which the wait is announced.
    slow = "redis://127.0.0.1:1/0?command_timeout=1.5"
    result = run_cli("serve", APP, "--port", "0", *flags, env=cli_env(SAMPLE_REDIS_URL=slow))
    assert result.returncode == 1, result.stderr
    notice, error = result.stderr.strip().splitlines()
    assert notice == "tidings: waiting for Redis at 127.0.0.1:1 (up to 1.5 s, its command_timeout)..."
    assert error.startswith("error: cannot reach the event backend")


async def test_workers_share_redis(redis_url: str, flags: tuple[str, ...]) -> None:
    server = TidingsProcess("serve", APP, "--port", "0", "--workers", "2", "--api-token", TOKEN, *flags,
                            env=cli_env(SAMPLE_REDIS_URL=redis_url)).start()  # fmt: skip
    try:
        url = endpoint(server)
        results = [
            run_cli("emit", "--url", url, "--token", TOKEN, "w", "counter.tick", str(i)) for i in range(4)
        ]
        assert all(result.returncode == 0 for result in results), [r.stderr for r in results]
        assert [m["data"] for m in await stored(redis_url, "w")] == [0, 1, 2, 3]
    finally:
        assert server.stop(timeout=20) == 0, server.errors


async def test_serve_with_demo_mounts_the_page_and_its_stream(redis_url: str, flags: tuple[str, ...]) -> None:
    demo = TidingsProcess(
        "serve", APP, "--port", "0", "--demo", *flags, env=cli_env(SAMPLE_REDIS_URL=redis_url)
    ).start()
    try:
        assert any("demo page at" in line for line in demo.stdout)
        async with httpx.AsyncClient(timeout=10) as http:
            page = await http.get(f"{demo.base}/")
            assert page.status_code == 200
            assert 'data-stream-url="/demo/stream"' in page.text
            # The page's stream: in the room as Ada, and watching who is in it.
            async with http.stream(
                "GET",
                f"{demo.base}/demo/stream",
                params=[
                    ("channel", "demo-room-lobby"),
                    ("channel", "demo-room-lobby~presence"),
                    ("name", "Ada"),
                ],
            ) as stream:
                text = ""
                async for chunk in stream.aiter_text():
                    text += chunk
                    if "presence.join" in text:
                        break
        assert '"client_id":"Ada","info":{"name":"Ada"}' in text
    finally:
        assert demo.stop() == 0, demo.errors


@pytest.mark.parametrize("command", ["emit", "tail", "history", "presence", "serve", "demo"])
def test_every_command_has_help(run_here: RunHere, command: str) -> None:
    result = run_here(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"Usage: tidings {command}" in result.stdout


def test_no_command_prints_help_and_unknown_command_is_exit_2(run_here: RunHere) -> None:
    bare = run_here()
    assert bare.returncode == 0
    assert "Usage: tidings" in bare.stdout
    assert_one_line_error(run_here("frobnicate"), 2, "No such command")


def test_a_refusing_backend_stops_startup_with_its_cause(
    redis_server: RedisServer, flags: tuple[str, ...]
) -> None:
    missing_database = redis_server.url.rsplit("/", 1)[0] + "/99"
    result = run_cli("serve", APP, "--port", "0", *flags, env=cli_env(SAMPLE_REDIS_URL=missing_database))
    assert_one_line_error(result, 1, "the event backend refused tidings", "database")
    assert "cannot reach" not in result.stderr
