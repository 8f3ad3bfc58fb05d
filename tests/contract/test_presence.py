"""Presence on every backend: members, connections, join/leave events, crashes, concurrent sweeps.

Two ``Realtime`` objects over one backend namespace stand for two processes.
A "crashed" one is ``halt()``ed: it stops heartbeating and sweeping without
leaving, exactly what ``kill -9`` leaves behind (the real ``kill -9`` of a
process is tests/redis/test_presence_processes.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tidings import (
    JOIN_EVENT,
    LEAVE_EVENT,
    InvalidArgumentError,
    InvalidChannelError,
    Limits,
    Message,
    Realtime,
)

from ..support.waiting import wait_until
from .conftest import MakeBackend, MakeRealtime

TTL = 0.6  # short, so expiry is seen quickly; heartbeats every 0.2 s


def events(history: list[Message]) -> list[tuple[str, str]]:
    return [(message.event, message.data["client_id"]) for message in history]


async def test_a_member_joins_on_its_first_connection_and_leaves_on_its_last(
    make_realtime: MakeRealtime,
) -> None:
    realtime = await make_realtime()
    room = realtime.channel("room")
    first = await room.enter("ada", {"name": "Ada"})
    second = await room.enter("ada", {"name": "ignored: Ada is already in"})
    bob = await room.enter("bob", None)
    assert await room.presence_count() == 2
    members = await room.presence()
    assert [(m.client_id, m.info) for m in members] == [("ada", {"name": "Ada"}), ("bob", None)]
    assert members[0].since <= members[1].since <= int(time.time() * 1000)

    await first.leave()
    await first.leave()  # idempotent
    assert await room.presence_count() == 2
    await second.leave()
    assert [m.client_id for m in await room.presence()] == ["bob"]
    await bob.leave()
    assert await room.presence_count() == 0

    history = await room.presence_channel.history()
    assert events(history) == [
        (JOIN_EVENT, "ada"),
        (JOIN_EVENT, "bob"),
        (LEAVE_EVENT, "ada"),
        (LEAVE_EVENT, "bob"),
    ]
    assert history[0].data == {"client_id": "ada", "info": {"name": "Ada"}, "since": members[0].since}
    assert history[0].channel == "room~presence"
    # The channel itself got nothing.
    assert await room.history() == []


async def test_context_manager_and_leave_by_client_id(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    room = realtime.channel("cm")
    async with room.enter("ada") as membership:
        assert membership.client_id == "ada"
        assert await room.presence_count() == 1
    assert await room.presence_count() == 0
    await room.enter("bob")
    await room.enter("bob")
    await room.leave("bob")
    assert await room.presence_count() == 0
    assert events(await room.presence_channel.history()) == [
        (JOIN_EVENT, "ada"),
        (LEAVE_EVENT, "ada"),
        (JOIN_EVENT, "bob"),
        (LEAVE_EVENT, "bob"),
    ]


async def test_joins_and_leaves_arrive_live_on_the_presence_channel_only(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    room = realtime.channel("live")
    ordinary: list[Message] = []
    presence: list[Message] = []
    await room.subscribe(on_data=ordinary.append)
    await room.presence_channel.subscribe(on_data=presence.append)
    async with room.enter("ada"):
        await room.emit("chat", "hi")
    await wait_until(lambda: len(presence) == 2, what="join and leave")
    await wait_until(lambda: len(ordinary) == 1, what="the chat message")
    assert events(presence) == [(JOIN_EVENT, "ada"), (LEAVE_EVENT, "ada")]
    assert [m.event for m in ordinary] == ["chat"]
    # Resume from the join: exactly the leave follows.
    after_join = await room.presence_channel.history(after=presence[0].id)
    assert [m.id for m in after_join] == [presence[1].id]


async def test_several_processes_share_members(make_backend: MakeBackend) -> None:
    one = Realtime(backend=await make_backend())
    two = Realtime(backend=await make_backend())
    try:
        await one.channel("shared").enter("ada")
        await two.channel("shared").enter("ada")
        await two.channel("shared").enter("bob")
        assert await one.channel("shared").presence_count() == 2
        await one.channel("shared").leave("ada")
        assert [m.client_id for m in await one.channel("shared").presence()] == ["ada", "bob"]
        await two.aclose()  # a clean shutdown leaves at once
        assert await one.channel("shared").presence_count() == 0
        history = await one.channel("shared").presence_channel.history()
        assert sorted(events(history)) == sorted(
            [(JOIN_EVENT, "ada"), (JOIN_EVENT, "bob"), (LEAVE_EVENT, "ada"), (LEAVE_EVENT, "bob")]
        )
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_crashed_process_members_leave_once_within_ttl_and_heartbeat(
    make_backend: MakeBackend,
) -> None:
    crashed = Realtime(backend=await make_backend(), presence_ttl=TTL)
    survivors = [Realtime(backend=await make_backend(), presence_ttl=TTL) for _ in range(2)]
    try:
        room = "crash"
        for client in ("ada", "bob", "cy"):
            await crashed.channel(room).enter(client)
        # A member also held by a survivor stays.
        await survivors[0].channel(room).enter("cy")
        # The survivors heartbeat: their connection must outlive several TTLs.
        for survivor in survivors:
            await survivor.channel(room).presence_count()
        crashed._presence.halt()
        started = time.monotonic()
        watcher = survivors[1].channel(room)
        while await watcher.presence_count() != 1:
            assert time.monotonic() - started < TTL + TTL / 3 + 1.0, "members of the crashed process lingered"
            await asyncio.sleep(0.02)
        await asyncio.sleep(TTL * 2)  # several more heartbeat and sweep rounds from both survivors
        assert [m.client_id for m in await watcher.presence()] == ["cy"]
        history = await watcher.presence_channel.history()
        leaves = [client for event, client in events(history) if event == LEAVE_EVENT]
        assert sorted(leaves) == ["ada", "bob"]
    finally:
        for realtime in (crashed, *survivors):
            await realtime.aclose()


async def test_concurrent_sweeps_emit_one_leave_each(make_backend: MakeBackend) -> None:
    crashed = Realtime(backend=await make_backend(), presence_ttl=TTL)
    # Survivors with a long TTL: only the explicit sweeps below run.
    survivors = [Realtime(backend=await make_backend(), presence_ttl=60) for _ in range(3)]
    try:
        clients = [f"client-{n}" for n in range(30)]
        for client in clients:
            await crashed.channel("sweep").enter(client)
            await crashed.channel("sweep").enter(client)  # two connections each
        crashed._presence.halt()
        await asyncio.sleep(TTL + 0.1)
        await asyncio.gather(*(survivor._presence.tick() for survivor in survivors))
        history = await survivors[0].channel("sweep").presence_channel.history()
        leaves = [client for event, client in events(history) if event == LEAVE_EVENT]
        assert sorted(leaves) == sorted(clients)
        assert await survivors[0].channel("sweep").presence_count() == 0
    finally:
        for realtime in (crashed, *survivors):
            await realtime.aclose()


async def test_presence_channels_refuse_emits(make_realtime: MakeRealtime) -> None:
    realtime = await make_realtime()
    presence = realtime.channel("room").presence_channel
    with pytest.raises(InvalidChannelError, match="presence channel"):
        await presence.emit(JOIN_EVENT, {"client_id": "forged", "info": None, "since": 0})
    with pytest.raises(InvalidChannelError, match="presence channel"):
        await realtime.channel("room~presence").emit_many([("x", 1)])
    with pytest.raises(InvalidChannelError, match="already a presence channel"):
        realtime.channel("room~presence").presence_channel  # noqa: B018
    # Nobody is present on a presence channel, and asking changes nothing.
    for attempt in (presence.enter("ada"), presence.presence(), presence.presence_count()):
        with pytest.raises(InvalidChannelError, match="already a presence channel"):
            await attempt
    assert await presence.history() == []


async def test_limits_are_enforced_with_clear_errors(make_backend: MakeBackend) -> None:
    limits = Limits(max_presence_members=2, max_presence_info_bytes=10, max_presence_client_id_length=5)
    realtime = Realtime(backend=await make_backend(), limits=limits)
    try:
        room = realtime.channel("limits")
        with pytest.raises(InvalidArgumentError, match="max_presence_info_bytes"):
            await room.enter("ada", {"name": "a long name"})
        with pytest.raises(InvalidArgumentError, match="max_presence_client_id_length"):
            await room.enter("adalovelace")
        with pytest.raises(InvalidArgumentError, match="client_id"):
            await room.enter("")
        with pytest.raises(InvalidArgumentError, match="JSON"):
            await room.enter("ada", {1, 2})
        for client in ("a", "b", "c"):
            await room.enter(client)
        assert len(await room.presence()) == 2
        assert len(await room.presence(limit=1)) == 1
        assert await room.presence_count() == 3
        with pytest.raises(InvalidArgumentError, match="max_presence_members"):
            await room.presence(limit=3)
    finally:
        await realtime.aclose()


async def test_a_connection_lost_by_a_slow_process_joins_again(make_backend: MakeBackend) -> None:
    slow = Realtime(backend=await make_backend(), presence_ttl=60)
    sweeper = Realtime(backend=await make_backend(), presence_ttl=TTL)
    try:
        await slow.channel("slow").enter("ada")
        # Expire it from the other side: the slow process missed its heartbeats.
        await asyncio.sleep(0)
        assert await sweeper.channel("slow").presence_count() == 1
        await slow.backend.presence_refresh({"slow": [*slow._presence._local["slow"]]}, ttl_ms=1)
        await asyncio.sleep(0.05)
        await sweeper._presence.tick()
        assert await sweeper.channel("slow").presence_count() == 0
        await slow._presence.tick()  # its heartbeat finds the connection gone and enters again
        assert await sweeper.channel("slow").presence_count() == 1
        history = await sweeper.channel("slow").presence_channel.history()
        assert events(history) == [(JOIN_EVENT, "ada"), (LEAVE_EVENT, "ada"), (JOIN_EVENT, "ada")]
    finally:
        await slow.aclose()
        await sweeper.aclose()


def test_heartbeats_follow_the_realtime_to_a_new_event_loop() -> None:
    # asyncio.run twice: the keeper's task died with the first loop; the
    # second must heartbeat again, or its members would expire.
    realtime = Realtime(presence_ttl=0.3)

    async def first() -> None:
        await realtime.channel("loops").enter("ada")

    async def second() -> None:
        await realtime.channel("loops").enter("bob")
        await asyncio.sleep(0.8)  # well past the TTL: only heartbeats keep them
        assert [m.client_id for m in await realtime.channel("loops").presence()] == ["ada", "bob"]
        await realtime.aclose()

    asyncio.run(first())
    asyncio.run(second())
