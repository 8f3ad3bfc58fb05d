"""``tidings emit`` through the real entry point, directly against Redis."""

from __future__ import annotations

import re

import orjson
import pytest

from .conftest import RunHere
from .processes import UNREACHABLE_REDIS, assert_one_line_error, cli_env, run_cli
from .stored import stored

ID_RE = re.compile(r"^\d+-\d+$")


async def test_emit_one_event_prints_its_id(redis_url: str) -> None:
    result = run_cli("emit", "--redis", redis_url, "room-1", "chat.message", '{"text": "hi"}')
    assert result.returncode == 0, result.stderr
    (event_id,) = result.stdout.split()
    assert ID_RE.match(event_id)
    assert await stored(redis_url, "room-1") == [
        {"id": event_id, "event": "chat.message", "channel": "room-1", "data": {"text": "hi"}}
    ]


async def test_emit_reads_the_redis_url_from_the_environment(redis_url: str) -> None:
    result = run_cli("emit", "room-1", "n", "7", env=cli_env(TIDINGS_REDIS_URL=redis_url))
    assert result.returncode == 0, result.stderr
    assert [m["data"] for m in await stored(redis_url, "room-1")] == [7]


async def test_emit_data_lines_from_stdin(redis_url: str) -> None:
    result = run_cli("emit", "--redis", redis_url, "feed", "tick", "-", stdin='{"n": 1}\n\n"two"\n3\n')
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 3
    history = await stored(redis_url, "feed")
    assert [(m["id"], m["event"], m["data"]) for m in history] == [
        (ids[0], "tick", {"n": 1}),
        (ids[1], "tick", "two"),
        (ids[2], "tick", 3),
    ]


async def test_emit_event_lines_from_stdin(redis_url: str) -> None:
    lines = '{"event": "a.b", "data": 1}\n{"event": "c", "data": [1, 2]}\n'
    result = run_cli("emit", "--redis", redis_url, "feed", "-", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert [(m["event"], m["data"]) for m in await stored(redis_url, "feed")] == [("a.b", 1), ("c", [1, 2])]


async def test_bulk_emit_of_more_than_one_batch_keeps_order(redis_url: str) -> None:
    lines = "".join(orjson.dumps({"event": "n", "data": i}).decode() + "\n" for i in range(2500))
    result = run_cli("emit", "--redis", redis_url, "bulk", "-", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 2500
    history = await stored(redis_url, "bulk")  # the newest 1000
    assert [m["data"] for m in history] == list(range(1500, 2500))


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["chat.message", "{bad"], None, "DATA is not valid JSON"),
        (["chat.message", "hello"], None, "a string needs quotes"),
        (["chat.message", "-"], '{"ok": 1}\n{nope\n', "stdin line 2: invalid JSON"),
        (["-"], '{"event": "x", "data": 1}\n[1, 2]\n', "stdin line 2: expected"),
        (["-"], '{"event": "x", "data": 1, "extra": 2}\n', "unexpected field(s) extra"),
        (["-", "1"], None, "give no DATA"),
        (["chat.message"], None, "missing DATA"),
        (["chat.message", "-"], "\n\n", "stdin held no events"),
    ],
)
async def test_bad_input_is_one_line_exit_2_and_stores_nothing(
    run_here: RunHere, redis_url: str, args: list[str], stdin: str | None, fragment: str
) -> None:
    result = run_here("emit", "--redis", redis_url, "room-1", *args, stdin=stdin)
    assert_one_line_error(result, 2, fragment)
    assert result.stdout == ""
    assert await stored(redis_url, "room-1") == []


async def test_bad_channel_name(run_here: RunHere, redis_url: str) -> None:
    result = run_here("emit", "--redis", redis_url, "room 1", "x", "1")
    assert_one_line_error(result, 2, "invalid channel name 'room 1'")


def test_unreachable_redis_is_exit_1(run_here: RunHere) -> None:
    result = run_here("emit", "--redis", UNREACHABLE_REDIS, "room-1", "x", "1")
    assert_one_line_error(result, 1, f"cannot reach Redis at {UNREACHABLE_REDIS}", "within 0.3 s")


def test_password_is_not_shown_in_errors(run_here: RunHere) -> None:
    result = run_here("emit", "--redis", UNREACHABLE_REDIS.replace("//", "//:s3cret@"), "room-1", "x", "1")
    assert_one_line_error(result, 1, "redis://:***@127.0.0.1:1/0")
    assert "s3cret" not in result.stderr


def test_bad_redis_url_is_exit_2(run_here: RunHere) -> None:
    result = run_here("emit", "--redis", "http://example.com", "room-1", "x", "1")
    assert_one_line_error(result, 2, "--redis:", "unsupported")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "say where the events are"),
        (["--redis", "redis://127.0.0.1:1/0", "--url", "http://127.0.0.1:1/api"], "not --redis and --url"),
        (["--url", "ftp://x"], "--url must be an http(s) URL"),
        (["--url", "http://127.0.0.1:1/api/realtime"], "needs the server's API token"),
    ],
)
def test_target_mistakes_are_exit_2(run_here: RunHere, args: list[str], fragment: str) -> None:
    assert_one_line_error(run_here("emit", *args, "room-1", "x", "1"), 2, fragment)


# -- with the user's APP: its schema validates before anything is stored ------------------


def app_env(redis_url: str) -> dict[str, str]:
    return cli_env(SAMPLE_REDIS_URL=redis_url)


async def test_emit_through_app_validates_with_its_schema(redis_url: str) -> None:
    ok = run_cli("emit", "--app", "tests.cli.sample_app:realtime", "notes", "note.added", '{"text": "x"}',
                 env=app_env(redis_url))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    unknown = run_cli("emit", "--app", "tests.cli.sample_app:realtime", "notes", "note.gone", "{}",
                      env=app_env(redis_url))  # fmt: skip
    assert_one_line_error(unknown, 2, "unknown event 'note.gone'", "note.added")
    invalid = run_cli("emit", "--app", "tests.cli.sample_app:realtime", "notes", "note.added", '{"text": ""}',
                      env=app_env(redis_url))  # fmt: skip
    assert_one_line_error(invalid, 2, "invalid data for event 'note.added'", "field 'text'")
    assert [m["data"] for m in await stored(redis_url, "notes")] == [{"text": "x"}]


async def test_one_bad_line_of_a_bulk_emit_stores_nothing(redis_url: str) -> None:
    lines = '{"text": "a"}\n{"text": "b"}\n{"text": ""}\n'
    result = run_cli("emit", "--app", "tests.cli.sample_app:realtime", "notes", "note.added", "-",
                     stdin=lines, env=app_env(redis_url))  # fmt: skip
    assert_one_line_error(result, 2, "stdin event 3", "field 'text'")
    assert await stored(redis_url, "notes") == []


@pytest.mark.parametrize(
    ("app", "fragment"),
    [
        ("tests.cli.sample_app", "APP must look like 'module:attribute'"),
        ("tests.cli.no_such_module:realtime", "cannot import module 'tests.cli.no_such_module'"),
        ("tests.cli.sample_app:nothing", "has no attribute 'nothing'"),
        ("tests.cli.sample_app:schema", "is a dict, not a tidings.Realtime"),
        ("tests.cli.broken_app:realtime", "RuntimeError: the configuration file is missing"),
        ("tests.cli.sample_app:in_memory", "uses the in-memory backend"),
    ],
)
def test_bad_app_is_one_line_exit_2(run_here: RunHere, app: str, fragment: str) -> None:
    assert_one_line_error(run_here("emit", "--app", app, "notes", "note.added", "{}"), 2, fragment)
