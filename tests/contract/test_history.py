"""history: limit default and cap, inclusive ms bounds, after-cursor paging, bad arguments."""

from __future__ import annotations

import pytest

from tidings import CursorExpiredError, InvalidArgumentError, Limits
from tidings._ids import parse_id

from .conftest import MakeRealtime


async def test_limit_defaults_to_and_is_capped_at_1000(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("many")
    ids: list[str] = []
    for start in range(0, 1100, 100):
        ids += await channel.emit_many([("n", i) for i in range(start, start + 100)])
    assert len(ids) == 1100
    default = await channel.history()
    assert [m.id for m in default] == ids[-1000:]
    assert [m.id for m in await channel.history(limit=5000)] == ids[-1000:]
    assert [m.data for m in await channel.history(limit=3)] == [1097, 1098, 1099]


async def test_history_cap_is_configurable(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(limits=Limits(history_limit=10))
    await realtime.channel("c").emit_many([("n", i) for i in range(20)])
    assert len(await realtime.channel("c").history()) == 10
    assert len(await realtime.channel("c").history(limit=50)) == 10


async def test_start_and_end_are_inclusive_milliseconds(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("bounds")
    ids = await channel.emit_many([("n", i) for i in range(5)])
    first_ms, last_ms = parse_id(ids[0])[0], parse_id(ids[-1])[0]
    assert [m.id for m in await channel.history(start=first_ms, end=last_ms)] == ids
    assert await channel.history(start=last_ms + 1) == []
    assert await channel.history(end=first_ms - 1) == []
    at_last = [i for i in ids if parse_id(i)[0] == last_ms]
    at_first = [i for i in ids if parse_id(i)[0] == first_ms]
    assert [m.id for m in await channel.history(start=last_ms)] == at_last
    assert [m.id for m in await channel.history(end=first_ms)] == at_first
    assert [m.id for m in await channel.history(start=last_ms, end=last_ms)] == at_last


async def test_newest_events_within_window_oldest_first(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("window")
    ids = await channel.emit_many([("n", i) for i in range(10)])
    page = await channel.history(limit=4, start=parse_id(ids[0])[0], end=parse_id(ids[-1])[0])
    assert [m.data for m in page] == [6, 7, 8, 9]


async def test_after_pages_forward_exclusively(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    channel = realtime.channel("paging")
    ids = await channel.emit_many([("n", i) for i in range(25)])
    seen: list[str] = []
    cursor = "0-0"
    while True:
        page = await channel.history(after=cursor, limit=10)
        if not page:
            break
        seen += [m.id for m in page]
        cursor = page[-1].id
    assert seen == ids
    assert await channel.history(after=ids[-1]) == []
    assert [m.id for m in await channel.history(after=ids[3], limit=2)] == ids[4:6]


async def test_after_older_than_retained_history_raises(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(max_length=5)
    channel = realtime.channel("trimmed")
    ids = await channel.emit_many([("n", i) for i in range(10)])
    with pytest.raises(CursorExpiredError) as caught:
        await channel.history(after=ids[2])
    assert caught.value.oldest == ids[5]
    # resuming right before the oldest retained event is gap-free again
    assert [m.id for m in await channel.history(after=ids[4])] == ids[5:]


async def test_empty_and_unknown_channels_have_empty_history(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    assert await realtime.channel("never-used").history() == []
    assert await realtime.channel("never-used").history(after="0-0") == []


@pytest.mark.parametrize(
    ("options", "argument", "fragment"),
    [
        ({"limit": -1}, "limit", "at least 1"),
        ({"limit": 0}, "limit", "at least 1"),
        ({"limit": 2.5}, "limit", "int"),
        ({"limit": True}, "limit", "int"),
        ({"start": "yesterday"}, "start", "milliseconds"),
        ({"end": 1.5}, "end", "milliseconds"),
        ({"start": -5}, "start", "between"),
        ({"start": 10, "end": 5}, "start", "after end"),
        ({"after": "nonsense"}, "after", "<ms>-<seq>"),
        ({"after": "1-2-3"}, "after", "<ms>-<seq>"),
        ({"after": 12}, "after", "str"),
        ({"after": "1-0", "start": 5}, "after", "not both"),
    ],
)
async def test_bad_history_arguments_are_named(
    make_realtime: MakeRealtime, options: dict[str, object], argument: str, fragment: str
) -> None:
    realtime = await make_realtime()
    with pytest.raises(InvalidArgumentError, match=fragment) as caught:
        await realtime.channel("c").history(**options)  # type: ignore[arg-type]
    assert caught.value.argument == argument
