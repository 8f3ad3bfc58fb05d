"""The stream under both servers (uvicorn, native): connected frames, replay, live, resume (PROTOCOL.md 1)."""

from __future__ import annotations

import asyncio

import orjson

from tidings import Realtime
from tidings._ids import MAX_PART
from tidings.asgi._cursor import channel_tag

from .conftest import Open, Start, replay_while_emitting, stored_after


async def test_headers_and_one_connected_frame_per_channel(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    await realtime.channel("b").emit("old", 1)
    server = await start()
    stream = await open_stream(server, "/?channel=a&channel=b&channel=a")
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert "access-control-allow-origin" not in stream.headers
    first, second = await stream.frames(2)
    head_b = (await realtime.channel("b").history())[-1].id
    assert first.data == {"type": "connected", "channel": "a", "cursor": "0-0"}
    assert second.data == {"type": "connected", "channel": "b", "cursor": head_b}
    # Both carry the cursor of every channel, for a plain EventSource's resume.
    expected_id = f"{channel_tag('a')}0-0.{channel_tag('b')}{head_b}"
    assert first.id == second.id == expected_id
    assert stream.raw.startswith(b"id: " + expected_id.encode() + b"\ndata: {")
    live = await realtime.channel("b").emit("greet", {"hello": "world"})
    (frame,) = await stream.frames(1)
    assert frame.data == {"id": live, "event": "greet", "channel": "b", "data": {"hello": "world"}}
    assert frame.id == f"{channel_tag('a')}0-0.{channel_tag('b')}{live}"
    assert server.stats().subscriptions == 2


async def test_default_channel_and_live_events_after_connected(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start()
    stream = await open_stream(server, "/")
    (connected,) = await stream.frames(1)
    assert connected.data["channel"] == "default"
    # The subscription is live as soon as the headers are out: emit right away.
    first = await realtime.emit("greet", {"hello": "world"})
    second = await realtime.emit("greet", "again")
    frames = await stream.frames(2)
    assert [f.data for f in frames] == [
        {"id": first, "event": "greet", "channel": "default", "data": {"hello": "world"}},
        {"id": second, "event": "greet", "channel": "default", "data": "again"},
    ]
    assert [f.id for f in frames] == [channel_tag("default") + first, channel_tag("default") + second]
    assert b"event:" not in stream.raw


async def test_missing_last_ack_replays_nothing(realtime: Realtime, start: Start, open_stream: Open) -> None:
    await realtime.channel("c").emit("before", 1)
    server = await start()
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    assert await stream.quiet(0.2) == []


async def test_replay_after_last_ack_id_then_live(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    channel = realtime.channel("c")
    ids = [await channel.emit("n", n) for n in range(5)]
    server = await start()
    stream = await open_stream(server, f"/?channel=c&last_ack_c={ids[1]}")
    connected, *replayed = await stream.frames(4)
    assert connected.data == {"type": "connected", "channel": "c", "cursor": ids[1]}
    assert [f.data["id"] for f in replayed] == ids[2:]
    live = await channel.emit("n", 5)
    (frame,) = await stream.frames(1)
    assert frame.data["id"] == live


async def test_replay_after_last_ack_timestamp(realtime: Realtime, start: Start, open_stream: Open) -> None:
    channel = realtime.channel("c")
    await channel.emit("n", 0)
    await asyncio.sleep(0.005)
    old = await channel.emit("n", 1)
    since = int(old.split("-")[0])  # ids of that same ms are "at or before" it
    await asyncio.sleep(0.005)
    newer = [await channel.emit("n", n) for n in (2, 3)]
    server = await start()
    stream = await open_stream(server, f"/?channel=c&last_ack_c={since}")
    connected, *replayed = await stream.frames(3)
    assert connected.data["cursor"] == f"{since}-{MAX_PART}"
    assert [f.data["id"] for f in replayed] == newer


async def test_timestamp_from_a_clock_ahead_of_the_server_does_not_hide_live_events(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start()
    ahead = 2**50  # a client clock far in the future
    stream = await open_stream(server, f"/?channel=c&last_ack_c={ahead}")
    await stream.frames(1)
    live = await realtime.channel("c").emit("n", 1)
    (frame,) = await stream.frames(1)
    assert frame.data["id"] == live


async def test_replay_and_concurrent_emits_have_no_gap_and_no_duplicate(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    channel = realtime.channel("busy")
    start_id, frames = await replay_while_emitting(channel, await start(), open_stream)
    assert frames[0].data["cursor"] == start_id
    delivered = [f.data["data"] for f in frames[1:]]
    assert delivered == list(range(len(delivered)))
    ids = [f.data["id"] for f in frames[1:]]
    assert ids == (await stored_after(channel, start_id))[: len(ids)]
    assert [f.id for f in frames[1:]] == [channel_tag("busy") + id_ for id_ in ids]


async def test_last_event_id_wins_over_last_ack_and_resumes_every_channel(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    a, b = realtime.channel("a"), realtime.channel("b")
    first = await a.emit("n", "a0")
    await b.emit("n", "b0")
    server = await start()
    # As a browser does: the original URL (last_ack from the first connect) is reused.
    target = f"/?channel=a&channel=b&last_ack_a={first}&last_ack_b=0-0"
    stream = await open_stream(server, target)
    frames = await stream.frames(3)
    assert [f.data.get("data") for f in frames[2:]] == ["b0"]
    await a.emit("n", "a1")
    (seen,) = await stream.frames(1)
    last_id = seen.id
    await stream.close()

    missed_b = [await b.emit("n", "b1")]
    missed_a = [await a.emit("n", "a2")]
    missed_b.append(await b.emit("n", "b2"))
    again = await open_stream(server, target, headers={"Last-Event-ID": last_id})
    frames = await again.frames(5)
    assert [f.data["type"] for f in frames[:2]] == ["connected", "connected"]
    # Order is per channel; the two channels' replays may interleave either way.
    assert [f.data["id"] for f in frames[2:] if f.data["channel"] == "a"] == missed_a
    assert [f.data["id"] for f in frames[2:] if f.data["channel"] == "b"] == missed_b
    assert await again.quiet(0.1) == []


async def test_last_event_id_naming_only_some_channels_leaves_the_rest_to_last_ack(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    a_ids = [await realtime.channel("a").emit("n", n) for n in range(3)]
    b_ids = [await realtime.channel("b").emit("n", n) for n in range(3)]
    server = await start()
    cursor = channel_tag("a") + a_ids[1]
    stream = await open_stream(
        server,
        f"/?channel=a&channel=b&last_ack_a=0-0&last_ack_b={b_ids[0]}",
        headers={"Last-Event-ID": cursor},
    )
    frames = await stream.frames(5)
    assert sorted(f.data["id"] for f in frames[2:]) == sorted([a_ids[2], *b_ids[1:]])


async def test_batched_events_go_out_in_one_chunk(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start()
    stream = await open_stream(server, "/?channel=c")
    await stream.frames(1)
    await realtime.channel("c").emit_many([("n", n) for n in range(100)])
    chunk = await stream.chunk()
    assert chunk is not None
    assert chunk.count(b"\ndata: {") == 100


async def test_two_connections_share_each_event_frame(
    realtime: Realtime, start: Start, open_stream: Open
) -> None:
    server = await start()
    one = await open_stream(server, "/?channel=c")
    two = await open_stream(server, "/?channel=c")
    await one.frames(1)
    await two.frames(1)
    await realtime.channel("c").emit("n", 1)
    (x,) = await one.frames(1)
    (y,) = await two.frames(1)
    assert x == y
    assert len(server.endpoint.frames) == 1


async def test_events_with_line_breaks_stay_one_frame(realtime: Realtime, start: Start) -> None:
    server = await start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /?channel=c HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    await reader.readuntil(b"\n\n\r\n")  # the chunk of the connected frame
    await realtime.channel("c").emit("n", {"text": "a\nb"})
    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
    body = await reader.readexactly(size)
    assert body.count(b"\n\n") == 1
    assert orjson.loads(body.split(b"data: ", 1)[1])["data"] == {"text": "a\nb"}
    writer.close()
