"""The native server's channel taps: streams on one channel share one feed, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis

from tests.support.waiting import wait_until
from tidings import Channel, Limits, Realtime
from tidings._counters import COUNTERS
from tidings.asgi import NativeServer
from tidings.asgi._connection import Connection
from tidings.asgi._cursor import channel_tag
from tidings.asgi._tap import ChannelTap
from tidings.asgi._taps import Taps
from tidings.native._http import HttpProtocol
from tidings.native._writer import TransportWriter
from tidings.redis import RedisBackend

from ..support.redis_server import RedisServer
from .conftest import Native, Open, emit_numbers, stored_after
from .raw_http import Frame, RawStream
from .tap_support import small_window_stream


def taps(server: NativeServer) -> Taps:
    return server.endpoint.taps


def tap(server: NativeServer, channel: str) -> ChannelTap:
    return taps(server).taps[channel]


async def all_shared(server: NativeServer, channel: str, count: int) -> None:
    await wait_until(lambda: channel in taps(server).taps and len(tap(server, channel).members) == count)


def id_key(event_id: str) -> tuple[int, ...]:
    return tuple(map(int, event_id.split("-")))


def event_ids(frames: list[Frame]) -> list[str]:
    return [f.data["id"] for f in frames if "id" in f.data]


async def read_events(stream: RawStream, count: int, timeout: float = 10.0) -> list[Frame]:
    """Frames until ``count`` events have come (pings and notices are kept in the list)."""
    frames: list[Frame] = []
    while len(event_ids(frames)) < count:
        frames.append(await stream.frame(timeout))
    return frames


async def test_streams_on_one_channel_share_one_backend_listener(
    realtime: Realtime, native: Native, open_stream: Open
) -> None:
    server = await native()
    streams = [await open_stream(server, "/?channel=hot") for _ in range(20)]
    alone = await open_stream(server, "/?channel=quiet")
    for stream in [*streams, alone]:
        assert (await stream.frames(1))[0].data["type"] == "connected"
    await all_shared(server, "hot", 20)
    stats = server.stats()
    # One feed for the 20 streams on "hot"; the lone stream on "quiet" keeps its own.
    assert stats.backend_listeners == 2
    assert stats.subscriptions == 21
    # A lone stream gets no tap at all: it would only add a second feed.
    assert "quiet" not in taps(server).taps
    sent = [await realtime.channel("hot").emit("n", n) for n in range(3)]
    quiet = await realtime.channel("quiet").emit("n", "q")
    for stream in streams:
        frames = await stream.frames(3)
        assert event_ids(frames) == sent
        assert [f.id for f in frames] == [channel_tag("hot") + id_ for id_ in sent]
        assert [f.data["data"] for f in frames] == [0, 1, 2]
    assert event_ids(await alone.frames(1)) == [quiet]
    for stream in streams:
        assert await stream.quiet(0.05) == []
    for stream in [*streams, alone]:
        await stream.close()
    await wait_until(lambda: server.stats().connections == 0)
    # Nothing left behind: no tap, no lone stream on record, no backend listener.
    assert taps(server).empty
    assert realtime.backend.live_listener_count() == 0


async def test_streams_joining_while_events_flow_have_no_gap_and_no_duplicate(
    realtime: Realtime, native: Native, open_stream: Open
) -> None:
    channel = realtime.channel("busy")
    server = await native()
    first = await channel.emit("n", -1)
    stop = asyncio.Event()
    emitter = asyncio.create_task(emit_numbers(channel, stop))
    streams: list[tuple[RawStream, str]] = []
    for n in range(12):
        # Some replay from a stored id, some start live: both must hand over cleanly.
        target = f"/?channel=busy&last_ack_busy={first}" if n % 3 == 0 else "/?channel=busy"
        stream = await open_stream(server, target)
        (connected,) = await stream.frames(1)
        streams.append((stream, connected.data["cursor"]))
        await asyncio.sleep(0.01)
    await all_shared(server, "busy", 12)
    await asyncio.sleep(0.05)
    stop.set()
    await emitter
    last = (await channel.history(limit=1))[0].id
    for stream, cursor in streams:
        expected = await stored_after(channel, cursor)
        frames = await read_events(stream, len(expected))
        assert event_ids(frames) == expected
        assert expected[-1] == last
    assert server.stats().backend_listeners == 1


async def slow_member(
    server: NativeServer, realtime: Realtime, channel: Channel, *, emit_while_out: int = 0
) -> RawStream:
    """A member of ``channel``'s tap whose client stopped reading until its socket filled,
    and which left the tap; ``emit_while_out`` more events are emitted before it reads again."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=2**22)
    writer.transport.pause_reading()
    writer.write(f"GET /?channel={channel.name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    stream = RawStream(reader, writer)
    await all_shared(server, channel.name, 2)
    slow, slow_writer = server_side(server, writer)
    while slow_writer.writable:
        await channel.emit_many([("n", "x" * 8192)] * 20)
        await asyncio.sleep(0.01)
    # The next batch finds it paused: it leaves the tap instead of being written to.
    await channel.emit("n", "after the pause")
    await wait_until(lambda: slow not in tap(server, channel.name).members)
    for _ in range(emit_while_out):
        await channel.emit("n", "while out")
    writer.transport.resume_reading()
    return stream


def server_protocol(server: NativeServer, writer: asyncio.StreamWriter) -> HttpProtocol:
    """The server's end of the client connection of ``writer`` (a stream by now)."""
    client = writer.get_extra_info("sockname")
    (found,) = (p for p in server._routes.streams if p.transport.get_extra_info("peername") == client)
    return found


def server_side(server: NativeServer, writer: asyncio.StreamWriter) -> tuple[Connection, TransportWriter]:
    """The server's stream, and the writer it writes to, for the client connection of ``writer``."""
    found = server_protocol(server, writer)
    assert found.stream is not None and found.writer is not None
    return found.stream, found.writer


async def test_a_member_whose_socket_fills_leaves_catches_up_from_history_and_rejoins(
    native: Native, open_stream: Open
) -> None:
    async with Realtime(limits=Limits(subscriber_queue=100)) as realtime:
        server = await native(realtime)
        channel = realtime.channel("c")
        fast = await open_stream(server, "/?channel=c")
        await fast.frames(1)
        catch_ups = COUNTERS.catch_ups
        slow = await slow_member(server, realtime, channel)
        # Leaving the tap to catch up on a feed of its own is a slow consumer's catch-up (/metrics).
        assert COUNTERS.catch_ups > catch_ups
        await slow.read_head()
        stored = await stored_after(channel, "0-0")
        frames = await read_events(slow, len(stored), timeout=20)
        assert frames[0].data["type"] == "connected"
        assert event_ids(frames) == stored
        assert not [f for f in frames if f.type == "error"]
        assert event_ids(await read_events(fast, len(stored), timeout=20)) == stored
        # Caught up and idle again: back on the shared feed.
        await all_shared(server, "c", 2)
        live = await channel.emit("n", "live")
        assert event_ids(await slow.frames(1)) == [live]
        assert event_ids(await fast.frames(1)) == [live]
        await slow.close()


async def test_a_member_that_fell_behind_trimmed_history_is_told_what_was_lost(
    native: Native, open_stream: Open
) -> None:
    async with Realtime(limits=Limits(subscriber_queue=100), max_length=50) as realtime:
        server = await native(realtime)
        channel = realtime.channel("c")
        fast = await open_stream(server, "/?channel=c")
        await fast.frames(1)
        slow = await slow_member(server, realtime, channel, emit_while_out=300)
        await slow.read_head()
        frames: list[Frame] = []
        last = (await channel.history(limit=1))[0].id
        while not event_ids(frames) or event_ids(frames)[-1] != last:
            frames.append(await slow.frame(20))
        errors = [f for f in frames if f.type == "error"]
        assert len(errors) == 1
        assert "lost events" in errors[0].data["error"]
        ids = event_ids(frames)
        assert ids == sorted(ids, key=id_key)
        assert len(ids) == len(set(ids))
        # After the notice: what history still holds, without a hole.
        after_notice = event_ids(frames[frames.index(errors[0]) :])
        stored = sorted((m.id for m in await channel.history()), key=id_key)
        assert len(stored) == 50
        assert after_notice == stored[stored.index(after_notice[0]) :]
        await slow.close()


async def test_shutdown_ends_every_member_with_reconnect_and_detaches_the_feed(
    realtime: Realtime, native: Native, open_stream: Open
) -> None:
    server = await native()
    streams = [await open_stream(server, "/?channel=c") for _ in range(5)]
    for stream in streams:
        await stream.frames(1)
    await all_shared(server, "c", 5)
    sent = await realtime.channel("c").emit("n", 1)
    await server.endpoint.shutdown()
    for stream in streams:
        frames = await stream.until_end()
        assert [f.data.get("id", f.type) for f in frames] == [sent, "reconnect"]
    assert realtime.backend.live_listener_count() == 0
    assert taps(server).taps == {}


async def test_a_backend_reset_is_caught_up_once_for_every_member(
    redis_server: RedisServer, redis_realtime: Realtime, native: Native, open_stream: Open
) -> None:
    realtime = redis_realtime
    backend = realtime.backend
    assert isinstance(backend, RedisBackend)
    channel = realtime.channel("tap-reset")
    server = await native(realtime)
    streams = [await open_stream(server, "/?channel=tap-reset") for _ in range(4)]
    cursors = [(await stream.frames(1))[0].data["cursor"] for stream in streams]
    await all_shared(server, "tap-reset", 4)
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.client_kill_filter(_type="pubsub") >= 1
        # Stored while the shared feed is down: only its catch-up read can deliver them.
        missed = [client.xadd("tidings:tap-reset", {"event": "n", "data": str(n)}).decode() for n in range(5)]
    finally:
        client.close()
    await wait_until(lambda: backend.stats()["reconnects"] >= 1)
    live = await channel.emit("n", "live")
    for stream, cursor in zip(streams, cursors, strict=True):
        expected = await stored_after(channel, cursor)
        assert expected == [*missed, live]
        assert event_ids(await read_events(stream, len(expected))) == expected
    assert server.stats().backend_listeners == 1
    await server.shutdown()


async def stalling_reader(
    stream: RawStream, rng: random.Random, last: asyncio.Future[str], seen: list[Frame]
) -> None:
    """Read ``stream`` into ``seen``, stopping now and then long enough for the socket to fill,
    until the event with id ``last`` (known once emitting is over) has arrived.

    The server pings often, so a reader that has everything still wakes up to see ``last``.
    """
    while not (last.done() and event_ids(seen) and event_ids(seen)[-1] == last.result()):
        if rng.random() < 0.01:
            await asyncio.sleep(rng.uniform(0.02, 0.2))
        frame = await stream.frame(10)
        if frame.type != "ping":
            seen.append(frame)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_streams_stalling_at_random_get_every_event_once_in_order(native: Native, seed: int) -> None:
    rng = random.Random(seed)
    async with Realtime(limits=Limits(subscriber_queue=50)) as realtime:
        server = await native(realtime, ping_interval=0.1)
        channel = realtime.channel("storm")
        first = await channel.emit("n", "first")
        last: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        readers: list[tuple[asyncio.Task[None], list[Frame], str]] = []

        async def connect(resume: bool) -> None:
            target = f"/?channel=storm&last_ack_storm={first}" if resume else "/?channel=storm"
            stream = await small_window_stream(server, target)
            (connected,) = await stream.frames(1)
            seen: list[Frame] = []
            task = asyncio.create_task(stalling_reader(stream, random.Random(rng.random()), last, seen))
            task.add_done_callback(lambda _: asyncio.ensure_future(stream.close()))
            readers.append((task, seen, connected.data["cursor"]))

        for n in range(6):
            await connect(resume=n % 2 == 0)
        for batch in range(40):
            # Batches above the queue size (50) overflow the shared feed too: it catches up from history.
            size = rng.choice([1, 5, 20, 80])
            await channel.emit_many([("n", {"b": batch, "pad": "x" * 1000})] * size)
            if batch % 10 == 5:
                await connect(resume=rng.random() < 0.5)  # joins while events flow
            await asyncio.sleep(rng.uniform(0, 0.05))
        last.set_result((await channel.history(limit=1))[0].id)
        await asyncio.wait_for(asyncio.gather(*(task for task, _, _ in readers)), 60)
        for _, seen, cursor in readers:
            assert not [f for f in seen if f.type == "error"]
            assert event_ids(seen) == await stored_after(channel, cursor)
        shared = taps(server).taps
        # The scenario did what it is for: streams shared the feed, and some had to leave it.
        assert "storm" in shared
        assert shared["storm"].left > 0
