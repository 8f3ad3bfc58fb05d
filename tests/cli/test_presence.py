"""``tidings presence`` and ``tidings tail --presence`` as real processes, directly against Redis."""

from __future__ import annotations

import orjson

from tidings import JOIN_EVENT, LEAVE_EVENT, Realtime

from .processes import run_cli


async def test_presence_lists_members_as_json_lines_and_as_a_table(redis_url: str) -> None:
    async with Realtime(redis=redis_url) as realtime:
        room = realtime.channel("room")
        await room.enter("ada", {"name": "Ada"})
        await room.enter("bob", None)
        await room.enter("bob", None)
        listed = run_cli("presence", "--redis", redis_url, "room", "--json")
        assert listed.returncode == 0, listed.stderr
        members = [orjson.loads(line) for line in listed.stdout.splitlines()]
        assert [(m["client_id"], m["info"]) for m in members] == [("ada", {"name": "Ada"}), ("bob", None)]
        assert all(isinstance(m["since"], int) for m in members)

        table = run_cli("presence", "--redis", redis_url, "room", "--limit", "1")
        assert table.returncode == 0, table.stderr
        assert "room: 2 member(s) (1 shown), earliest first" in table.stdout
        assert "ada" in table.stdout
        assert '{"name":"Ada"}' in table.stdout
    empty = run_cli("presence", "--redis", redis_url, "room")
    assert "nobody is present on channel 'room'" in empty.stdout


async def test_tail_presence_follows_joins_and_leaves_too(redis_url: str) -> None:
    async with Realtime(redis=redis_url) as realtime:
        room = realtime.channel("room")
        await room.emit("chat", "hi")
        async with room.enter("ada"):
            pass
    result = run_cli(
        "tail", "--redis", redis_url, "room", "--presence", "--history", "5", "--count", "3", "--json"
    )
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert sorted((m["channel"], m["event"]) for m in lines) == [
        ("room", "chat"),
        ("room~presence", JOIN_EVENT),
        ("room~presence", LEAVE_EVENT),
    ]
