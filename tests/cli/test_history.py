"""``tidings history`` through the real entry point, directly against Redis."""

from __future__ import annotations

import orjson

from .conftest import RunHere
from .processes import assert_one_line_error, run_cli
from .stored import emit


def json_lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines()]


async def test_history_json_is_oldest_first_with_limit(redis_url: str) -> None:
    ids = await emit(redis_url, "feed", *[("n", i) for i in range(5)])
    result = run_cli("history", "--redis", redis_url, "feed", "--limit", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == [
        {"id": ids[i], "event": "n", "channel": "feed", "data": i} for i in (2, 3, 4)
    ]


async def test_history_after_pages_forward(redis_url: str) -> None:
    ids = await emit(redis_url, "feed", *[("n", i) for i in range(5)])
    result = run_cli("history", "--redis", redis_url, "feed", "--after", ids[1], "--limit", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert [m["id"] for m in json_lines(result.stdout)] == ids[2:4]


async def test_history_start_and_end_are_inclusive_ms(redis_url: str) -> None:
    ids = await emit(redis_url, "feed", ("n", 0))
    ms = int(ids[0].split("-")[0])
    inside = run_cli("history", "--redis", redis_url, "feed", "--start", str(ms), "--end", str(ms), "--json")
    assert [m["id"] for m in json_lines(inside.stdout)] == ids
    later = run_cli("history", "--redis", redis_url, "feed", "--start", str(ms + 1), "--json")
    assert later.returncode == 0, later.stderr
    assert later.stdout == ""


async def test_history_for_people_is_a_table(redis_url: str) -> None:
    ids = await emit(redis_url, "feed", ("chat.message", {"text": "hello"}))
    result = run_cli("history", "--redis", redis_url, "feed")
    assert result.returncode == 0, result.stderr
    assert "feed: 1 event(s), oldest first" in result.stdout
    assert ids[0] in result.stdout
    assert "chat.message" in result.stdout
    assert '{"text":"hello"}' in result.stdout


def test_history_of_an_empty_channel(redis_url: str) -> None:
    result = run_cli("history", "--redis", redis_url, "nothing-here")
    assert result.returncode == 0, result.stderr
    assert "no events in channel 'nothing-here'" in result.stdout
    assert run_cli("history", "--redis", redis_url, "nothing-here", "--json").stdout == ""


def test_history_argument_mistakes_are_exit_2(run_here: RunHere, redis_url: str) -> None:
    assert_one_line_error(run_here("history", "--redis", redis_url, "feed", "--after", "zz"), 2, "after:")
    assert_one_line_error(run_here("history", "--redis", redis_url, "feed", "--limit", "0"), 2, "limit")
    assert_one_line_error(
        run_here("history", "--redis", redis_url, "feed", "--start", "10", "--end", "5"),
        2,
        "start (10) is after end",
    )
    assert_one_line_error(run_here("history", "--redis", redis_url, "feed", "--limit", "x"), 2, "--limit")


async def test_history_through_app_decodes_with_its_schema(redis_url: str) -> None:
    from .processes import cli_env

    await emit(redis_url, "notes", ("note.added", {"text": "x"}))
    result = run_cli("history", "--app", "tests.cli.sample_app:realtime", "notes", "--json",
                     env=cli_env(SAMPLE_REDIS_URL=redis_url))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [m["data"] for m in json_lines(result.stdout)] == [{"text": "x"}]
