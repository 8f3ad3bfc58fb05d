"""``tidings demo`` from the terminal's side: the CLI feeding the demo room, and its mistakes."""

from __future__ import annotations

import httpx
import pytest

from tidings.cli import main

from .conftest import TOKEN, RunHere
from .processes import UNREACHABLE_REDIS, TidingsProcess, assert_one_line_error, run_cli


async def test_cli_emits_into_the_demo_room_through_its_json_api(
    run_here: RunHere, flags: tuple[str, ...]
) -> None:
    demo = TidingsProcess("demo", "--port", "0", "--api-token", TOKEN, *flags).start()
    try:
        assert any(f"{demo.base}/api/realtime/emit" in line for line in demo.stdout)
        message = '{"name": "Terminal", "text": "hello from the CLI"}'
        result = run_cli("emit", "--url", f"{demo.base}/api/realtime", "--token", TOKEN,
                         "demo-room-lobby", "chat.message", message)  # fmt: skip
        assert result.returncode == 0, result.stderr
        refused = run_here("emit", "--url", f"{demo.base}/api/realtime", "--token", TOKEN,
                          "demo-room-lobby", "chat.message", '{"name": "Terminal", "text": ""}')  # fmt: skip
        assert_one_line_error(refused, 2, "invalid data for event 'chat.message'")
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{demo.base}/demo/history", params={"room": "lobby"})
        assert [m["data"] for m in answer.json()["messages"]] == [
            {"name": "Terminal", "text": "hello from the CLI"}
        ]
        assert answer.json()["cursor"] == result.stdout.strip()
    finally:
        assert demo.stop() == 0, demo.errors


def test_demo_with_unreachable_redis_is_one_line_exit_1(flags: tuple[str, ...]) -> None:
    result = run_cli("demo", "--port", "0", "--redis", UNREACHABLE_REDIS, *flags)
    assert_one_line_error(result, 1, "cannot reach the event backend", "within 0.3 s")


def test_demo_with_a_bad_redis_url_is_exit_2(run_here: RunHere) -> None:
    assert_one_line_error(run_here("demo", "--port", "0", "--redis", "nope"), 2, "redis:")


def test_the_script_entry_point_is_main(capsys: pytest.CaptureFixture[str]) -> None:
    # pyproject's ``tidings = "tidings.cli:main"``: it exits with the command's status.
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "--help"])
    assert exit_info.value.code == 0
    assert "Usage: tidings history" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["history"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: Missing argument 'CHANNEL'")


async def test_demo_job_requests_are_checked_and_running_jobs_end_with_the_server(
    flags: tuple[str, ...],
) -> None:
    demo = TidingsProcess("demo", "--port", "0", *flags).start()
    try:
        async with httpx.AsyncClient() as http:
            for body, field in (
                ({"seconds": 0}, "seconds"),
                ({"seconds": "soon"}, "seconds"),
                ({"x": 1}, "x"),
            ):
                refused = await http.post(f"{demo.base}/demo/job", json=body)
                assert refused.status_code == 422
                assert field in refused.json()["fields"]
            started = [await http.post(f"{demo.base}/demo/job", json={"seconds": 60}) for _ in range(16)]
            assert {answer.status_code for answer in started} == {200}
            jobs = {answer.json()["job"] for answer in started}
            assert len(jobs) == 16
            too_many = await http.post(f"{demo.base}/demo/job", json={"seconds": 60})
            assert too_many.status_code == 429
            assert "the demo allows 16" in too_many.json()["error"]
    finally:
        # Sixteen jobs still running: the server cancels them and exits at once.
        assert demo.stop(timeout=10) == 0, demo.errors
