"""The page shape: every stream on ``broadcast`` plus its own ``user-<i>``; the paced emitter.

Shared by the in-process emitter (``/bench/page`` in ``bench.sse_server``) and the
separate emitter process (``bench.page_emit``), so both emit exactly the same events.

Each event's data is ``{"q": seq, "t": µs on CLOCK_MONOTONIC, "k": user or -1}``:
``q`` counts per channel from 0, ``k`` names the channel (-1 for ``broadcast``) so a
load generator can check every event per (connection, channel) even when the stack
does not put the channel name in the frame (broadcaster + sse-starlette).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

BROADCAST = "broadcast"

Publish = Callable[[str, dict[str, int]], Awaitable[object]]


def user_channel(index: int) -> str:
    return f"user-{index}"


class PageEmitter:
    """Emits on ``broadcast`` and round-robin over ``user-<i>``, keeping per-channel sequences."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._broadcast = 0
        self._users: dict[int, int] = {}
        self._turn = 0

    async def _chain(self, name: str, items: list[dict[str, int]]) -> None:
        # One channel's events go out one after the other: concurrent emits on one
        # channel could reach the backend out of order and look like the server's fault.
        for data in items:
            await self._publish(name, data)

    async def run(self, rate: float, user_rate: float, seconds: float, users: int) -> dict[str, Any]:
        """``rate`` broadcast events/s and ``user_rate`` user events/s for ``seconds``.

        Paced every ~2 ms; different channels are emitted concurrently. Bounded to
        ``seconds + 10`` s; answers what was emitted and the next sequence number of
        ``broadcast`` and of every user channel (``users`` of them).
        """
        loop = asyncio.get_running_loop()
        total_b = int(rate * seconds)
        total_u = int(user_rate * seconds)
        started = loop.time()
        hard_stop = started + seconds + 10
        sent_b = sent_u = 0
        while (sent_b < total_b or sent_u < total_u) and loop.time() <= hard_stop:
            elapsed = loop.time() - started
            due_b = min(total_b, int(elapsed * rate) + 1) - sent_b
            due_u = min(total_u, int(elapsed * user_rate) + 1) - sent_u
            batches: dict[str, list[dict[str, int]]] = {}
            now = time.monotonic_ns() // 1000
            for _ in range(due_b):
                batches.setdefault(BROADCAST, []).append({"q": self._broadcast, "t": now, "k": -1})
                self._broadcast += 1
            for _ in range(due_u):
                user = self._turn % users
                self._turn += 1
                seq = self._users.get(user, 0)
                self._users[user] = seq + 1
                batches.setdefault(user_channel(user), []).append({"q": seq, "t": now, "k": user})
            if batches:
                await asyncio.gather(*(self._chain(name, items) for name, items in batches.items()))
            sent_b += due_b
            sent_u += due_u
            await asyncio.sleep(0.002)
        return {
            "broadcast_emitted": sent_b,
            "user_emitted": sent_u,
            "seconds": loop.time() - started,
            "last": {"b": self._broadcast, "u": [self._users.get(i, 0) for i in range(users)]},
        }
