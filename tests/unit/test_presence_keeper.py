"""The presence keeper's loop ends when cancelled, even if a backend call swallowed the cancellation.

redis-py turns a cancelled read into a connection error, and the router
retries connection errors: a cancellation that arrives mid-heartbeat never
surfaces as CancelledError. ``aclose()`` must still end the keeper.
"""

from __future__ import annotations

import asyncio
import contextlib

from tidings import MemoryBackend, Realtime, Retention


class SwallowingBackend(MemoryBackend):
    """A sweep that takes a while and, cancelled, carries on as if nothing happened."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeping = asyncio.Event()

    async def presence_sweep(self, *, retention: Retention) -> int:
        self.sweeping.set()
        with contextlib.suppress(asyncio.CancelledError):  # what a retrying client does with it
            await asyncio.sleep(0.2)
        return await super().presence_sweep(retention=retention)


async def test_aclose_ends_the_keeper_even_if_a_sweep_swallows_the_cancellation() -> None:
    backend = SwallowingBackend()
    realtime = Realtime(backend=backend, presence_ttl=0.03)
    await realtime.channel("room").enter("ada")
    await asyncio.wait_for(backend.sweeping.wait(), 2)
    await asyncio.wait_for(realtime.aclose(), 2)
    assert await backend.presence_count("room") == 0
