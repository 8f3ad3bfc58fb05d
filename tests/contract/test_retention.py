"""History retention: exact max_length trim and expiry after the last emit."""

from __future__ import annotations

import asyncio

import pytest

from tidings import InvalidArgumentError, Realtime

from .conftest import MakeRealtime


async def test_max_length_trims_exactly(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(max_length=7)
    channel = realtime.channel("trim")
    for i in range(20):
        await channel.emit("n", i)
    assert [m.data for m in await channel.history()] == list(range(13, 20))
    await channel.emit_many([("n", i) for i in range(20, 30)])
    assert [m.data for m in await channel.history()] == list(range(23, 30))


async def test_history_expires_after_last_emit(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime(expire_after_secs=1)
    channel = realtime.channel("ephemeral")
    await channel.emit("n", 1)
    await asyncio.sleep(0.6)
    await channel.emit("n", 2)  # refreshes the expiry
    await asyncio.sleep(0.6)
    assert [m.data for m in await channel.history()] == [1, 2]
    await asyncio.sleep(1.0)
    assert await channel.history() == []
    await channel.emit("n", 3)
    assert [m.data for m in await channel.history()] == [3]


@pytest.mark.parametrize("option", ["max_length", "expire_after_secs"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_retention_options_are_validated(option: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError, match=option):
        Realtime(**{option: value})  # type: ignore[arg-type]
