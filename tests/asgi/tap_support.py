"""What the channel-tap tests share: finding the server's side of a stream, and checking
that every frame's ``id:`` line is a valid resume point on every channel."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Sequence
from typing import Any

from tests.support.waiting import wait_until
from tidings import Channel
from tidings._ids import format_id
from tidings.asgi import NativeServer
from tidings.asgi._connection import Connection
from tidings.asgi._cursor import decode_cursor
from tidings.asgi._tap import ChannelTap
from tidings.asgi._taps import Taps

from .conftest import Served, stored_after
from .raw_http import Frame, RawStream


def taps(served: Served) -> Taps:
    return served.endpoint.taps


def tap(served: Served, channel: str) -> ChannelTap:
    return taps(served).taps[channel]


async def all_shared(served: Served, channel: str, count: int) -> None:
    await wait_until(
        lambda: channel in taps(served).taps and len(tap(served, channel).members) == count,
        what=f"{count} members on {channel!r}'s tap",
    )


def event_ids(frames: list[Frame]) -> list[str]:
    return [f.data["id"] for f in frames if "id" in f.data]


def server_transport(served: Served | NativeServer, writer: asyncio.StreamWriter) -> asyncio.Transport:
    """The server's transport of the client connection of ``writer``."""
    client = writer.get_extra_info("sockname")
    server: Any = served.server if isinstance(served, Served) else served
    if isinstance(server, NativeServer):
        protocols: Any = server._routes.streams
    else:
        protocols = server.server.server_state.connections
    (found,) = (p for p in protocols if p.transport.get_extra_info("peername") == client)
    transport: asyncio.Transport = found.transport
    return transport


def server_stream(served: Served, channel: str) -> Connection:
    """The one open stream on ``channel`` (tests give a slow stream a channel of its own)."""
    (found,) = (c for c in served.endpoint._connections if channel in c.channels)
    return found


async def small_window_stream(served: Served | NativeServer, target: str) -> RawStream:
    """A stream with small socket buffers at both ends (a slow link): a stalled reader soon
    fills them, and the server's writer stops being writable."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    stream = RawStream(reader, writer)
    await stream.read_head()
    # Without this, the kernel would buffer megabytes before the server noticed anything.
    server_transport(served, writer).get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, 8192
    )
    return stream


def follow(frames: Sequence[Frame], channels: Sequence[str]) -> dict[str, list[str]]:
    """Each channel's event ids in ``frames``, checking every ``id:`` line on the way.

    The id in force after each frame must hold, for every channel, the last
    event of that channel written so far (or where it started, or the
    position a notice moved it to): a client resuming from any frame's id
    then has no gap and no duplicate on any channel.
    """
    positions: dict[str, str] | None = None
    seen: dict[str, list[str]] = {channel: [] for channel in channels}
    for frame in frames:
        cursor = (
            {ch: format_id(key) for ch, key in decode_cursor(frame.id, channels).items()} if frame.id else {}
        )
        if frame.type == "connected" or (frame.type == "error" and positions is not None and cursor):
            # Where each channel starts; a notice may move a channel past lost events.
            positions = cursor
            continue
        if "id" not in frame.data:
            continue  # pings, notices without a jump
        assert positions is not None, "an event before the connected frames"
        channel = frame.data["channel"]
        positions[channel] = frame.data["id"]
        seen[channel].append(frame.data["id"])
        assert cursor == positions, f"id line {frame.id} is not the stream's position {positions}"
    return seen


def start_positions(frames: Sequence[Frame], channels: Sequence[str]) -> dict[str, str]:
    """Where each channel of a stream started: its connected frame's cursor."""
    return {
        f.data["channel"]: f.data["cursor"]
        for f in frames
        if f.type == "connected" and f.data["channel"] in channels
    }


async def check_complete(channels: Sequence[Channel], frames: Sequence[Frame], notice: str = "") -> None:
    """Every stored event of every channel after where the stream started, once, in order,
    and no notice (nothing was lost) but ones that say ``notice``."""
    errors = [f.data for f in frames if f.type == "error" and not (notice and notice in f.data["error"])]
    assert not errors, errors
    names = [channel.name for channel in channels]
    seen = follow(frames, names)
    starts = start_positions(frames, names)
    for channel in channels:
        assert seen[channel.name] == await stored_after(channel, starts[channel.name]), channel.name


async def stalling_reader(
    stream: RawStream, rng: random.Random, done: asyncio.Event, last: dict[str, str], seen: list[Frame]
) -> None:
    """Read ``stream`` into ``seen``, stopping now and then long enough for the socket to fill,
    until emitting is over (``done``) and each channel's last event (``last``) has arrived.

    The server pings often, so a reader that has everything still wakes up to see that.
    """

    def complete() -> bool:
        if not done.is_set():
            return False
        got = {f.data["channel"]: f.data["id"] for f in seen if "id" in f.data}
        return all(got.get(channel) == id_ for channel, id_ in last.items())

    while not complete():
        if rng.random() < 0.01:
            await asyncio.sleep(rng.uniform(0.02, 0.2))
        frame = await stream.frame(10)
        if frame.type != "ping":
            seen.append(frame)
