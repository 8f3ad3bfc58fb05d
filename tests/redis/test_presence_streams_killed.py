"""``kill -9`` of a server holding present SSE streams, under the native server and uvicorn.

The server (``presence_server.py``, its own OS process) enters each stream
in presence through the endpoint's ``presence=`` hook. Three clients open
four streams (one on two connections); a surviving Realtime in this process
sees them join. The server is then killed with SIGKILL: the streams drop,
nothing leaves cleanly, and the survivor's sweeps must emit exactly one leave
per member within the TTL plus one heartbeat interval (plus slack).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.asgi.raw_http import RawStream
from tests.support.redis_server import RedisServer
from tidings import JOIN_EVENT, LEAVE_EVENT, Channel, Realtime

from .presence_process import prefixed
from .test_presence_processes import TTL, kill_9, running, wait_until_swept

CLIENTS = ["ada", "bob", "cy"]
CONNECTIONS = [*CLIENTS, "cy"]  # cy is present from two connections: still one member, one leave


async def presence_events(room: Channel, event: str) -> list[str]:
    """The client id of every ``event`` (join or leave) stored on ``room``'s presence channel, sorted."""
    history = await room.presence_channel.history()
    return sorted(message.data["client_id"] for message in history if message.event == event)


@pytest.mark.parametrize("server", ["native", "uvicorn"])
async def test_kill_9_of_a_server_holding_streams_gives_one_leave_per_member(
    redis_server: RedisServer, server: str
) -> None:
    prefix = f"s{uuid.uuid4().hex[:10]}:"
    survivor = Realtime(redis=prefixed(redis_server.url, prefix), presence_ttl=TTL)
    room = survivor.channel("room")
    streams: list[RawStream] = []
    try:
        args = [server, redis_server.url, prefix, str(TTL)]
        async with running("tests.redis.presence_server", *args) as (process, line):
            word, port, path = line.split()
            assert word == "serving"
            for client in CONNECTIONS:
                stream = await RawStream.open(int(port), f"{path}?channel=room&client={client}")
                assert stream.status == 200
                streams.append(stream)
                (connected,) = await stream.frames(1)
                assert connected.type == "connected"

            async with asyncio.timeout(5):  # each stream enters once its subscription is live
                while await room.presence_count() != len(CLIENTS):
                    await asyncio.sleep(0.02)
            assert await presence_events(room, JOIN_EVENT) == CLIENTS
            # Presence leaves a stream's ordinary events alone: one chat event, nothing else.
            event = await room.emit("chat", "hi")
            for stream in streams:
                (frame,) = await stream.frames(1)
                assert frame.data == {"id": event, "event": "chat", "channel": "room", "data": "hi"}

            took = await wait_until_swept(room, 0, await kill_9(process))
        for stream in streams:
            assert await stream.until_end() == []  # dropped with the process, no frame on the way
        await asyncio.sleep(TTL * 2)  # more sweeps: nothing more may be emitted

        assert await room.presence() == []
        assert await presence_events(room, LEAVE_EVENT) == CLIENTS, f"leaves after {took:.2f} s"
        assert await presence_events(room, JOIN_EVENT) == CLIENTS
    finally:
        for stream in streams:
            await stream.close()
        await survivor.aclose()
