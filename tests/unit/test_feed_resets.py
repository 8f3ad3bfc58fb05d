"""The feed's catch-up when the backend resets its live feed at awkward moments."""

from __future__ import annotations

import asyncio

import pytest

from tidings import Backend, Entry, Limits, MemoryBackend, Message, Realtime, Retention
from tidings._ids import IdKey

from ..support.waiting import wait_for_count


class OutageDuringReplay(MemoryBackend):
    """Simulates a live-feed outage while the first history read is in flight.

    One entry is stored while listeners are detached (as Pub/Sub would miss
    it), then the listeners are told with ``on_reset`` -- exactly what the
    Redis backend does after reconnecting.
    """

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    async def latest(
        self, channel: str, *, start: IdKey | None, end: IdKey | None, limit: int
    ) -> list[Entry]:
        result = await super().latest(channel, start=start, end=end, limit=limit)
        if self.armed:
            self.armed = False
            log = self._channels[channel]
            detached, log.listeners = log.listeners, []
            await self.append(channel, [("n", b"99")], Retention())
            log.listeners = detached
            for subscription in detached:
                assert subscription.listener is not None
                subscription.listener.on_reset()
        return result


async def test_reset_during_initial_replay_still_delivers_what_the_outage_missed() -> None:
    backend: Backend = OutageDuringReplay()
    realtime = Realtime(backend=backend)
    channel = realtime.channel("c")
    await channel.emit("n", 1)
    got: list[Message] = []
    await channel.subscribe(on_data=got.append, history=True)
    await channel.emit("n", 2)
    await wait_for_count(got, 3)
    assert [m.data for m in got] == [1, 99, 2]
    await realtime.aclose()
    await backend.aclose()


class SlowReads(MemoryBackend):
    async def after(
        self, channel: str, cursor: IdKey, *, limit: int, end: IdKey | None = None
    ) -> list[Entry]:
        await asyncio.sleep(0.01)
        return await super().after(channel, cursor, limit=limit, end=end)


async def test_cancelling_a_read_during_catch_up_does_not_stall_the_stream() -> None:
    realtime = Realtime(backend=SlowReads(), limits=Limits(history_limit=10))
    channel = realtime.channel("c")
    ids = [await channel.emit("n", n) for n in range(30)]
    async with channel.stream(after=ids[0]) as stream:
        got = [(await anext(stream)).data for _ in range(10)]
        pending = asyncio.ensure_future(anext(stream))  # needs a catch-up read
        await asyncio.sleep(0.005)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        async with asyncio.timeout(5):
            while len(got) < 29:
                got.append((await anext(stream)).data)
    assert got == list(range(1, 30))
    await realtime.aclose()
