"""Streams in presence, under both servers: the identity hook, enter on open, leave after the grace.

A page that does not ask for presence sees exactly the frames it saw before;
one that subscribes to ``<channel>~presence`` gets joins and leaves as events
of that channel, with ids that are positions of that channel.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tidings import JOIN_EVENT, LEAVE_EVENT, Realtime
from tidings.asgi import Request
from tidings.asgi._cursor import channel_tag

from .conftest import Open, Start


def identify(request: Request, channel: str) -> tuple[str, Any] | None:
    user = request.query_params.get("user")
    if user is None or channel == "private":
        return None  # per channel: no presence on "private"
    return user, {"name": user.title()}


async def test_a_stream_is_present_while_open_and_leaves_after_the_grace(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start(presence=identify, presence_grace=0.3)
    room = realtime.channel("room")
    watcher = await open_stream(server, "/?channel=room~presence")
    await watcher.frames(1)  # connected
    ada = await open_stream(server, "/?channel=room&channel=private&user=ada")
    await ada.frames(2)
    assert [(m.client_id, m.info) for m in await room.presence()] == [("ada", {"name": "Ada"})]
    assert await realtime.channel("private").presence_count() == 0
    (join,) = await watcher.frames(1)
    assert join.data["event"] == JOIN_EVENT
    assert join.data["channel"] == "room~presence"
    assert join.data["data"]["client_id"] == "ada"
    # The id is a real position of the presence channel.
    stored = await room.presence_channel.history()
    assert (
        join.id
        == channel_tag("room~presence") + stored[-1].id
        == channel_tag("room~presence") + join.data["id"]
    )

    # A reload: the old stream closes, the new one opens within the grace. No leave, no second join.
    await ada.close()
    again = await open_stream(server, "/?channel=room&user=ada")
    await again.frames(1)
    await asyncio.sleep(0.6)
    assert [m.client_id for m in await room.presence()] == ["ada"]
    assert await watcher.quiet(0.1) == []

    await again.close()
    (leave,) = await watcher.frames(1, timeout=3)
    assert leave.data["event"] == LEAVE_EVENT
    assert leave.data["data"]["client_id"] == "ada"
    assert await room.presence_count() == 0


async def test_a_stream_without_identity_sees_no_new_frames(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start(presence=identify, presence_grace=0.1)
    plain = await open_stream(server, "/?channel=room")
    (connected,) = await plain.frames(1)
    assert connected.data == {"type": "connected", "channel": "room", "cursor": "0-0"}
    ada = await open_stream(server, "/?channel=room&user=ada")
    await ada.frames(1)
    await ada.close()
    assert await plain.quiet(0.4) == []  # ada joined and left: nothing on "room"
    event = await realtime.channel("room").emit("chat", "hi")
    (frame,) = await plain.frames(1)
    assert frame.data == {"id": event, "event": "chat", "channel": "room", "data": "hi"}
    assert frame.id == channel_tag("room") + event


async def test_info_over_the_limit_is_refused_with_400(start: Start, open_stream: Open) -> None:
    def too_big(request: Request, channel: str) -> tuple[str, Any]:
        return "ada", "x" * 5000

    server = await start(presence=too_big)
    refused = await open_stream(server, "/?channel=room")
    assert refused.status == 400
    assert "max_presence_info_bytes" in (await refused.json())["error"]


async def test_a_server_shutting_down_abandons_its_streams_to_the_ttl(
    start: Start, open_stream: Open
) -> None:
    # Its clients reconnect elsewhere within the TTL: leaving at once would be a leave and a join.
    realtime = Realtime(presence_ttl=0.6)
    try:
        server = await start(on=realtime, presence=identify, presence_grace=5)
        ada = await open_stream(server, "/?channel=room&user=ada")
        await ada.frames(1)
        await server.endpoint.shutdown(grace=2)
        await ada.until_end()
        room = realtime.channel("room")
        assert await room.presence_count() == 1  # not left at shutdown, nor after the 5 s grace
        deadline = asyncio.get_running_loop().time() + 0.6 + 0.2 + 1.0
        while await room.presence_count():
            assert asyncio.get_running_loop().time() < deadline, "the abandoned stream never expired"
            await asyncio.sleep(0.02)
        assert [m.event for m in await room.presence_channel.history()] == [JOIN_EVENT, LEAVE_EVENT]
    finally:
        await realtime.aclose()
