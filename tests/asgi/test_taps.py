"""Channel taps for streams on several channels: each channel shares its tap, every ``id:``
line resumes every channel, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis

from tests.support.waiting import wait_until
from tidings import Channel, Limits, Realtime
from tidings._ids import now_ms
from tidings.asgi._cursor import channel_tag
from tidings.redis import RedisBackend

from ..support.redis_server import RedisServer
from .conftest import Open, Served, Start, emit_numbers
from .raw_http import Frame, RawStream
from .tap_support import (
    all_shared,
    check_complete,
    event_ids,
    follow,
    server_stream,
    small_window_stream,
    stalling_reader,
    tap,
    taps,
)


def id_key(event_id: str) -> tuple[int, ...]:
    return tuple(map(int, event_id.split("-")))


def query(*channels: str, **extra: str) -> str:
    parts = [f"channel={name}" for name in channels] + [f"{key}={value}" for key, value in extra.items()]
    return "/?" + "&".join(parts)


async def last_ids(*channels: Channel) -> dict[str, str]:
    found: dict[str, str] = {}
    for channel in channels:
        newest = await channel.history(limit=1)
        if newest:
            found[channel.name] = newest[0].id
    return found


async def read_to(stream: RawStream, last: dict[str, str], timeout: float = 10.0) -> list[Frame]:
    """Frames until each channel's event ``last[channel]`` came (pings left out)."""
    frames: list[Frame] = []
    got: dict[str, str] = {}
    while any(got.get(channel) != id_ for channel, id_ in last.items()):
        frame = await stream.frame(timeout)
        if frame.type == "ping":
            continue
        frames.append(frame)
        if "id" in frame.data:
            got[frame.data["channel"]] = frame.data["id"]
        elif frame.type == "connected":
            got[frame.data["channel"]] = frame.data["cursor"]  # may start at the end already
    return frames


async def test_each_channel_of_a_stream_shares_its_channels_tap(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    served = await start()
    a, b = realtime.channel("a"), realtime.channel("b")
    pairs = [await open_stream(served, query("a", "b")) for _ in range(6)]
    pages = [await open_stream(served, query("a", f"own-{n}")) for n in range(4)]
    singles = [await open_stream(served, query("a")) for _ in range(3)]
    openings = {}
    for stream in pairs + pages:
        openings[id(stream)] = await stream.frames(2)
    for stream in singles:
        openings[id(stream)] = await stream.frames(1)
    await all_shared(served, "a", 13)
    await all_shared(served, "b", 6)
    # One feed per tap (a, b), and the page streams' own channels keep theirs.
    assert served.stats().backend_listeners == 2 + 4
    assert not any(name.startswith("own-") for name in taps(served).taps)
    for n in range(4):
        await a.emit("n", n)
        await b.emit("n", n)
        await a.emit_many([("m", n), ("m", n + 1)])
    await realtime.channel("own-2").emit("n", "mine")
    last = await last_ids(a, b)
    for stream in pairs:
        await check_complete([a, b], openings[id(stream)] + await read_to(stream, last))
    for n, stream in enumerate(pages):
        own = realtime.channel(f"own-{n}")
        wanted = {"a": last["a"], **(await last_ids(own))}
        await check_complete([a, own], openings[id(stream)] + await read_to(stream, wanted))
    for stream in singles:
        frames = openings[id(stream)] + await read_to(stream, {"a": last["a"]})
        await check_complete([a], frames)
    for stream in pairs + pages + singles:
        await stream.close()
    await wait_until(lambda: served.stats().connections == 0)
    assert taps(served).empty
    assert realtime.backend.live_listener_count() == 0


async def test_streams_joining_while_both_channels_flow_have_no_gap_and_no_duplicate(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    served = await start()
    a, b = realtime.channel("a"), realtime.channel("b")
    first_a, first_b = await a.emit("n", -1), await b.emit("n", -1)
    stop = asyncio.Event()
    emitters = [asyncio.create_task(emit_numbers(channel, stop)) for channel in (a, b)]
    streams: list[tuple[RawStream, list[Frame]]] = []
    for n in range(12):
        # Some replay from stored ids, some resume by Last-Event-ID, some start live.
        if n % 3 == 0:
            stream = await open_stream(served, query("a", "b", last_ack_a=first_a, last_ack_b=first_b))
        elif n % 3 == 1 and streams:
            cursor = streams[0][1][0].id
            stream = await open_stream(served, query("a", "b"), headers={"Last-Event-ID": cursor})
        else:
            stream = await open_stream(served, query("a", "b"))
        streams.append((stream, await stream.frames(2)))
        await asyncio.sleep(0.01)
    await all_shared(served, "a", 12)
    await all_shared(served, "b", 12)
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*emitters)
    last = await last_ids(a, b)
    for stream, opening in streams:
        await check_complete([a, b], opening + await read_to(stream, last))
    assert served.stats().backend_listeners == 2


async def test_a_resume_from_any_mid_stream_id_continues_every_channel(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    served = await start()
    a, b = realtime.channel("a"), realtime.channel("b")
    streams = [await open_stream(served, query("a", "b")) for _ in range(2)]
    openings = [await stream.frames(2) for stream in streams]
    await all_shared(served, "a", 2)
    await all_shared(served, "b", 2)
    rng = random.Random(7)
    for n in range(40):
        await rng.choice([a, b]).emit_many([("n", n)] * rng.choice([1, 3]))
    last = await last_ids(a, b)
    frames = openings[0] + await read_to(streams[0], last)
    seen = follow(frames, ["a", "b"])
    events = [f for f in frames if "id" in f.data]
    for cut in (3, len(events) // 2, len(events) - 2):
        resumed = await open_stream(served, query("a", "b"), headers={"Last-Event-ID": events[cut].id})
        after = follow(await read_to(resumed, last), ["a", "b"])
        before = follow(frames[: frames.index(events[cut]) + 1], ["a", "b"])
        for channel in ("a", "b"):
            # What the first stream had up to the cut, then the resumed one: the whole channel, once.
            assert before[channel] + after[channel] == seen[channel]
        await resumed.close()


async def stall_until_evicted(served: Served, stream_channel: str, channels: list[Channel]) -> None:
    """Emit big batches on ``channels`` until the stream on ``stream_channel`` (its reader
    paused) was found full by a tap and is a member of none: it left every tap at once,
    each at the position it was written to.

    (Under ASGI it may leave and join again a few times while sends still go out; once
    the send in progress waits for the client, its own feeds are not read any more.)
    """
    slow = server_stream(served, stream_channel)
    for channel in channels:
        await all_shared(served, channel.name, 2)

    def left() -> int:
        return sum(tap(served, c.name).left for c in channels)

    before = left()
    while left() == before or any(slow in tap(served, c.name).members for c in channels):
        for channel in channels:
            await channel.emit_many([("n", "x" * 8192)] * 20)
        await asyncio.sleep(0.01)
    assert not any(slot.shared for slot in slow._slots)


async def paused_stream(served: Served, target: str) -> RawStream:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port, limit=2**22)
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return RawStream(reader, writer)


async def test_a_member_whose_socket_fills_leaves_both_taps_catches_up_and_rejoins(
    start: Start, open_stream: Open
) -> None:
    async with Realtime(limits=Limits(subscriber_queue=100)) as realtime:
        served = await start(realtime)
        c, d = realtime.channel("c"), realtime.channel("d")
        fast = await open_stream(served, query("c", "d"))
        fast_opening = await fast.frames(2)
        slow = await paused_stream(served, query("c", "d", "slow"))
        await wait_until(lambda: len(served.endpoint._connections) == 2)
        await stall_until_evicted(served, "slow", [c, d])
        assert tap(served, "c").left >= 1
        assert tap(served, "d").left >= 1
        for n in range(30):
            await c.emit("n", f"while out {n}")
            await d.emit("n", f"while out {n}")
        slow.writer.transport.resume_reading()  # type: ignore[attr-defined]
        await slow.read_head()
        last = await last_ids(c, d)
        frames = await read_to(slow, last, timeout=20)
        await check_complete([c, d], frames)
        await check_complete([c, d], fast_opening + await read_to(fast, last, timeout=20))
        # Caught up and idle again: back on both shared feeds.
        await all_shared(served, "c", 2)
        await all_shared(served, "d", 2)
        live = {"c": await c.emit("n", "live"), "d": await d.emit("n", "live")}
        rest = await read_to(slow, live)
        await check_complete([c, d], frames + rest)
        await slow.close()


async def test_a_member_that_fell_behind_trimmed_history_is_told_per_channel(
    start: Start, open_stream: Open
) -> None:
    async with Realtime(limits=Limits(subscriber_queue=100), max_length=50) as realtime:
        served = await start(realtime)
        c, d = realtime.channel("c"), realtime.channel("d")
        fast = await open_stream(served, query("c", "d"))
        await fast.frames(2)
        slow = await paused_stream(served, query("c", "d", "slow"))
        await wait_until(lambda: len(served.endpoint._connections) == 2)
        await stall_until_evicted(served, "slow", [c, d])
        for n in range(300):
            await c.emit("n", n)
            await d.emit("n", n)
        slow.writer.transport.resume_reading()  # type: ignore[attr-defined]
        await slow.read_head()
        frames = await read_to(slow, await last_ids(c, d), timeout=20)
        errors = [f for f in frames if f.type == "error"]
        assert sorted(e.data["error"].split("'")[1] for e in errors) == ["c", "d"]
        assert all("lost events" in e.data["error"] for e in errors)
        # Every id line is still a resume point (follow checks them), and after its
        # notice each channel has what history holds, once, in order.
        seen = follow(frames, ["c", "d", "slow"])
        for channel in (c, d):
            stored = sorted((m.id for m in await channel.history()), key=id_key)
            assert len(stored) == 50
            got = seen[channel.name]
            assert got == sorted(set(got), key=id_key)
            kept = [i for i in got if i in set(stored)]
            assert kept == stored[stored.index(kept[0]) :]
        await slow.close()


async def test_shutdown_ends_every_member_of_both_taps_with_reconnect(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    served = await start()
    streams = [await open_stream(served, query("a", "b")) for _ in range(4)]
    for stream in streams:
        await stream.frames(2)
    await all_shared(served, "a", 4)
    await all_shared(served, "b", 4)
    sent = [await realtime.channel("a").emit("n", 1), await realtime.channel("b").emit("n", 2)]
    await served.endpoint.shutdown()
    for stream in streams:
        frames = await stream.until_end()
        assert [f.data.get("id", f.type) for f in frames] == [*sent, "reconnect"]
    await wait_until(lambda: realtime.backend.live_listener_count() == 0)
    assert taps(served).taps == {}


async def test_a_pubsub_reset_is_caught_up_once_per_tap_for_every_member(
    redis_server: RedisServer, redis_realtime: Realtime, start: Start, open_stream: Open
) -> None:
    realtime = redis_realtime
    backend = realtime.backend
    assert isinstance(backend, RedisBackend)
    r1, r2 = realtime.channel("tap-r1"), realtime.channel("tap-r2")
    served = await start(realtime)
    streams = [await open_stream(served, query("tap-r1", "tap-r2")) for _ in range(4)]
    openings = [await stream.frames(2) for stream in streams]
    await all_shared(served, "tap-r1", 4)
    await all_shared(served, "tap-r2", 4)
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.client_kill_filter(_type="pubsub") >= 1
        # Stored while the shared feeds are down: only their catch-up reads can deliver them.
        for n in range(5):
            for name in ("tap-r1", "tap-r2"):
                client.xadd(f"tidings:{name}", {"event": "n", "data": str(n)})
    finally:
        client.close()
    await wait_until(lambda: backend.stats()["reconnects"] >= 1)
    live = {"tap-r1": await r1.emit("n", "live"), "tap-r2": await r2.emit("n", "live")}
    for stream, opening in zip(streams, openings, strict=True):
        frames = opening + await read_to(stream, live)
        # A notice that the Pub/Sub connection dropped (it reconnects) is fine; a loss is not.
        await check_complete([r1, r2], frames, notice="(reconnecting)")
        assert len(event_ids(frames)) == 12
    assert served.stats().backend_listeners == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_mixed_members_stalling_at_random_get_every_event_once_in_order(
    start: Start, seed: int
) -> None:
    rng = random.Random(seed)
    async with Realtime(limits=Limits(subscriber_queue=50)) as realtime:
        served = await start(realtime, ping_interval=0.1)
        storm, side = realtime.channel("storm"), realtime.channel("side")
        first = {"storm": await storm.emit("n", "first"), "side": await side.emit("n", "first")}
        done = asyncio.Event()
        last: dict[str, str] = {}
        readers: list[tuple[asyncio.Task[None], list[Frame], list[Channel]]] = []

        async def connect(n: int, resume: bool) -> None:
            # Three shapes: storm alone, storm + side (both tapped), storm + a channel of its own.
            shape = [[storm], [storm, side], [storm, realtime.channel(f"own-{n}")]][n % 3]
            extra = {f"last_ack_{c.name}": first[c.name] for c in shape if resume and c.name in first}
            stream = await small_window_stream(served, query(*(c.name for c in shape), **extra))
            seen: list[Frame] = []
            wanted = {c.name: "" for c in shape if c.name in first}
            task = asyncio.create_task(
                stalling_reader(stream, random.Random(rng.random()), done, wanted, seen)
            )
            task.add_done_callback(lambda _: asyncio.ensure_future(stream.close()))
            readers.append((task, seen, shape))
            lasts.append(wanted)

        lasts: list[dict[str, str]] = []
        kinds: set[int] = set()  # how storm's members were written: -1 one channel, 0 several
        left = 0
        for n in range(9):
            await connect(n, resume=n % 2 == 0)
        for batch in range(40):
            # Batches above the queue size (50) overflow the shared feeds too: they catch up from history.
            size = rng.choice([1, 5, 20, 80])
            await storm.emit_many([("n", {"b": batch, "pad": "x" * 1000})] * size)
            if rng.random() < 0.5:
                await side.emit_many([("n", {"b": batch, "pad": "y" * 500})] * rng.choice([1, 5, 60]))
            if batch % 10 == 5:
                await connect(9 + batch, resume=rng.random() < 0.5)  # joins while events flow
            await asyncio.sleep(rng.uniform(0, 0.05))
            if "storm" in taps(served).taps:
                kinds |= set(tap(served, "storm").members.values())
                left = max(left, tap(served, "storm").left)
        last.update(await last_ids(storm, side))
        for wanted in lasts:
            for name in wanted:
                wanted[name] = last[name]
        done.set()
        await asyncio.wait_for(asyncio.gather(*(task for task, _, _ in readers)), 60)
        for _, seen, shape in readers:
            await check_complete(shape, seen)
        # The scenario did what it is for: both shapes shared storm's feed, and some had to leave it.
        assert kinds == {-1, 0}
        assert left > 0


def server_stream_count(served: Served, channel: str) -> int:
    return sum(1 for connection in served.endpoint._connections if channel in connection.channels)


async def test_a_stream_resuming_ahead_of_the_channel_gets_only_what_its_own_feed_would(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    # A Last-Event-ID from ahead of the channel (another server's, or before a
    # restart): its own feed skips every event at or below it. Settled, but not at
    # the tap's position, it must not join: the tap would hand it those events.
    served = await start()
    c, d = realtime.channel("c"), realtime.channel("d")
    await c.emit("n", 0)
    others = [await open_stream(served, query("c", "d")) for _ in range(2)]
    for stream in others:
        await stream.frames(2)
    ahead = f"{now_ms() + 600_000}-0"
    cursor = f"{channel_tag('c')}{ahead}.{channel_tag('d')}0-0"
    early = await open_stream(served, query("c", "d"), headers={"Last-Event-ID": cursor})
    assert [f.data["cursor"] for f in await early.frames(2)] == [ahead, "0-0"]
    await all_shared(served, "c", 2)
    await all_shared(served, "d", 3)
    behind = await c.emit("n", 1)  # below the early stream's position on c
    on_d = await d.emit("n", 2)
    assert event_ids(await read_to(early, {"d": on_d})) == [on_d]
    assert await early.quiet(0.1) == []
    for stream in others:
        assert event_ids(await read_to(stream, {"c": behind, "d": on_d})) == [behind, on_d]
    assert server_stream_count(served, "c") == 3
    assert len(tap(served, "c").members) == 2
