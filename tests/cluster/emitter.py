"""An emitting OS process for the multi-process tests.

    python -m tests.cluster.emitter URL COUNT CHANNEL [CHANNEL...]

``URL`` is any URL ``Realtime(redis=...)`` takes (``redis+cluster://`` included,
``?prefix=`` for the test's namespace). Emits COUNT events ``{"n": i}``, event
``tick``, to the channels in turn from 8 concurrent tasks, then prints
``emitted COUNT`` and exits 0.
"""

from __future__ import annotations

import asyncio
import sys

from tidings import Realtime


async def main(url: str, count: int, channels: list[str]) -> None:
    async with Realtime(redis=url) as realtime:
        todo = iter(range(count))

        async def worker() -> None:
            for n in todo:
                await realtime.channel(channels[n % len(channels)]).emit("tick", {"n": n})

        await asyncio.gather(*(worker() for _ in range(8)))
    print(f"emitted {count}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
