"""What the endpoint and the feeds count for ``/metrics`` (``tidings._counters``), under both servers.

The counters are the process's, so each test compares before and after.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings import Limits, Realtime
from tidings._counters import COUNTERS
from tidings.asgi import Request, Response

from ..support.waiting import wait_until
from .conftest import Open, Start


async def test_refusals_are_counted_by_status(start: Start, open_stream: Open) -> None:
    def refuse_secret(request: Request, channels: Sequence[str]) -> Response | None:
        return Response(403, {"error": "not yours"}) if "secret" in channels else None

    served = await start(middleware=refuse_secret)
    before = dict(COUNTERS.refusals)
    for target, method in (("/?channel=a%20b", "GET"), ("/?channel=secret", "GET"), ("/?channel=c", "POST")):
        stream = await open_stream(served.server, target, method=method)
        assert stream.status >= 400
    counted = {status: COUNTERS.refusals.get(status, 0) - before.get(status, 0) for status in (400, 403, 405)}
    assert counted == {400: 1, 403: 1, 405: 1}


async def test_an_events_lost_notice_is_counted(start: Start, open_stream: Open) -> None:
    async with Realtime(max_length=3) as realtime:
        ids = await realtime.channel("c").emit_many([("n", n) for n in range(10)])
        served = await start(realtime)
        before = COUNTERS.events_lost_notices
        stream = await open_stream(served.server, f"/?channel=c&last_ack_c={ids[0]}")
        frames = await stream.frames(5)
        assert frames[1].data["type"] == "error"
        assert COUNTERS.events_lost_notices - before == 1


async def test_streams_deliveries_and_subscriptions_are_counted(start: Start, open_stream: Open) -> None:
    async with Realtime() as realtime:
        served = await start(realtime)
        before = COUNTERS.snapshot()
        one = await open_stream(served.server, "/?channel=a")
        two = await open_stream(served.server, "/?channel=a&channel=b")
        await one.frames(1)
        await two.frames(2)
        assert COUNTERS.streams - before["streams"] == 2
        assert COUNTERS.subscriptions - before["subscriptions"] == 3
        await realtime.channel("a").emit_many([("n", n) for n in range(4)])
        await one.frames(4)
        await two.frames(4)
        assert COUNTERS.deliveries - before["deliveries"] == 8
        assert COUNTERS.emits - before["emits"] == 4
        await one.close()
        await two.close()
        await wait_until(lambda: COUNTERS.streams == before["streams"], what="both streams released")
        assert COUNTERS.subscriptions == before["subscriptions"]


async def test_a_slow_consumer_catch_up_is_counted() -> None:
    async with Realtime(limits=Limits(subscriber_queue=50)) as realtime:
        feed = await realtime._open_feed("c", None, None, None)
        before = COUNTERS.catch_ups
        channel = realtime.channel("c")
        for n in range(51):  # nobody pulls: the 51st overflows the queue
            await channel.emit("n", n)
        assert COUNTERS.catch_ups - before == 1
        await feed.close()


async def test_taps_their_members_and_what_they_deliver_are_counted(start: Start, open_stream: Open) -> None:
    # Two streams on {a, b}: each channel gets a tap, each stream is a member of both.
    async with Realtime() as realtime:
        served = await start(realtime)
        before = COUNTERS.snapshot()
        streams = [await open_stream(served.server, "/?channel=a&channel=b") for _ in range(2)]
        for stream in streams:
            await stream.frames(2)
        await wait_until(
            lambda: COUNTERS.tap_members - before["tap_members"] == 4, what="both streams in both taps"
        )
        assert COUNTERS.taps - before["taps"] == 2
        await realtime.channel("a").emit_many([("n", n) for n in range(3)])
        await realtime.channel("b").emit("n", 3)
        for stream in streams:
            await stream.frames(4)
        assert COUNTERS.deliveries - before["deliveries"] == 8
        for stream in streams:
            await stream.close()
        await wait_until(lambda: COUNTERS.taps == before["taps"], what="both taps closed")
        assert COUNTERS.tap_members == before["tap_members"]
