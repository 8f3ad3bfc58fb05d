"""``tidings tail`` as a real process, directly against Redis.

Each live test starts the tail ``--after`` a marker event emitted first: the
replay-then-live guarantee then covers every later emit, however the tail
process and the emits interleave, so the expected output is exact.
"""

from __future__ import annotations

import re
import signal

import orjson

from tests.support.waiting import wait_until
from tidings.cli._tail import TailOptions, listening
from tidings.cli._target import Direct, Remote

from .conftest import RunHere
from .processes import UNREACHABLE_REDIS, TidingsProcess, assert_one_line_error, run_cli
from .stored import emit


def data_of(lines: list[str]) -> list[object]:
    return [orjson.loads(line)["data"] for line in lines]


async def test_tail_replays_history_then_exits_after_count(redis_url: str) -> None:
    await emit(redis_url, "feed", *[("n", i) for i in range(5)])
    result = run_cli("tail", "--redis", redis_url, "feed", "--history", "3", "--count", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert data_of(result.stdout.splitlines()) == [2, 3, 4]


async def test_tail_follows_several_channels_live_with_an_event_filter(redis_url: str) -> None:
    (marker,) = await emit(redis_url, "a", ("marker", None))
    await emit(redis_url, "b", ("marker", None))
    tail = TidingsProcess(
        "tail", "--redis", redis_url, "a", "b", "--after", marker, "--event", "keep", "--json", "--count", "4"
    ).start(wait_for_url=False)
    try:
        await emit(redis_url, "a", ("keep", 1), ("drop", 2), ("keep", 3))
        await emit(redis_url, "b", ("keep", 4), ("keep", 5))
        lines = tail.wait_lines(4)
        assert tail.wait() == 0, tail.errors
    finally:
        tail.stop()
    messages = [orjson.loads(line) for line in lines]
    assert {m["event"] for m in messages} == {"keep"}
    by_channel = {c: [m["data"] for m in messages if m["channel"] == c] for c in ("a", "b")}
    # Order holds per channel; b's history replay ("marker" was filtered) is empty.
    assert by_channel["a"] == [1, 3]
    assert len(by_channel["b"]) == 2


async def test_tail_for_people_prints_channel_event_and_data(redis_url: str) -> None:
    ids = await emit(redis_url, "feed", ("chat.message", {"text": "hi"}))
    result = run_cli("tail", "--redis", redis_url, "feed", "--history", "1", "--count", "1")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3}  feed  chat\.message  " + ids[0] + r'  \{"text":"hi"\}$', line)


async def test_sigterm_and_ctrl_c_end_tail_quietly(redis_url: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        (marker,) = await emit(redis_url, "feed", ("n", 0))
        tail = TidingsProcess("tail", "--redis", redis_url, "feed", "--after", marker, "--json").start(
            wait_for_url=False
        )
        await emit(redis_url, "feed", ("n", 1))
        tail.wait_lines(1)  # it is following
        assert tail.stop(sig, timeout=10) == 0
        assert (
            tail.errors
            == f"tidings: listening to 'feed' (all events) on Redis at {redis_url}; Ctrl-C to stop\n"
        )


def test_tail_option_mistakes_are_exit_2(run_here: RunHere, redis_url: str) -> None:
    assert_one_line_error(
        run_here("tail", "--redis", redis_url, "feed", "--history", "2", "--after", "1-0"), 2, "not both"
    )
    assert_one_line_error(run_here("tail", "--redis", redis_url, "feed", "--after", "x"), 2, "after:")
    assert_one_line_error(run_here("tail", "--redis", redis_url, "feed", "--count", "0"), 2, "--count")
    assert_one_line_error(run_here("tail", "--redis", redis_url), 2, "Missing argument")


def test_tail_with_an_unknown_event_of_the_app_schema(redis_url: str) -> None:
    from .processes import cli_env

    result = run_cli("tail", "--app", "tests.cli.sample_app:realtime", "notes", "--event", "note.nope",
                     env=cli_env(SAMPLE_REDIS_URL=redis_url))  # fmt: skip
    assert_one_line_error(result, 2, "unknown event 'note.nope'")


def test_tail_of_unreachable_redis_is_exit_1(run_here: RunHere) -> None:
    result = run_here("tail", "--redis", UNREACHABLE_REDIS, "feed")
    assert_one_line_error(result, 1, "cannot reach Redis", "within 0.3 s")


async def test_tail_says_on_stderr_what_it_listens_to_before_anything_arrives(redis_url: str) -> None:
    tail = TidingsProcess("tail", "--redis", redis_url, "quiet-a", "quiet-b", "-e", "keep", "-e", "also",
                          "--json").start(wait_for_url=False)  # fmt: skip
    try:
        await wait_until(lambda: bool(tail.stderr), timeout=10, what="a line on stderr")
        assert tail.stdout == []  # nothing was emitted: the line is all there is
    finally:
        assert tail.stop(timeout=10) == 0
    assert tail.errors == (
        f"tidings: listening to 'quiet-a', 'quiet-b' (events keep, also) on Redis at {redis_url}; "
        "Ctrl-C to stop\n"
    )


def test_the_listening_line_names_the_target_without_its_password() -> None:
    options = TailOptions(("c",), None, None, None, None)
    direct = listening(options, Direct(redis="redis://user:secret@db.internal:6380/2", app=None))
    assert direct == (
        "tidings: listening to 'c' (all events) on Redis at redis://user:***@db.internal:6380/2; "
        "Ctrl-C to stop"
    )
    remote = listening(options, Remote("https://ops:secret@rt.example.com/api/realtime", None))
    assert "on the server at https://ops:***@rt.example.com/api/realtime;" in remote
    app = listening(options, Direct(redis=None, app="myapp.events:realtime"))
    assert "on the backend of myapp.events:realtime;" in app


def test_commands_waiting_on_an_unreachable_redis_say_what_they_wait_for(run_here: RunHere) -> None:
    # Long enough a command_timeout for the notice (after 0.5 s) to come before the failure.
    unreachable = "redis://127.0.0.1:1/0?command_timeout=1.5"
    for args in (["tail", "feed"], ["history", "feed"], ["emit", "feed", "e", "1"]):
        result = run_here(args[0], "--redis", unreachable, *args[1:])
        assert result.returncode == 1, result.stderr
        notice, error = result.stderr.splitlines()
        assert notice == "tidings: waiting for Redis at 127.0.0.1:1 (up to 1.5 s, its command_timeout)...", (
            args
        )
        assert error.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0"), args


async def test_a_quick_redis_gets_no_waiting_notice(redis_url: str, run_here: RunHere) -> None:
    emitted = run_here("emit", "--redis", redis_url, "feed", "e", "1")
    read = run_here("history", "--redis", redis_url, "feed", "--json")
    assert (emitted.returncode, read.returncode) == (0, 0)
    assert (emitted.stderr, read.stderr) == ("", "")
