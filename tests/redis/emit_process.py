"""A separate OS process that emits events, for tests of two processes sharing Redis.

    python -m tests.redis.emit_process URL PREFIX CHANNEL COUNT [--tasks N] [--size BYTES]

Emits COUNT events ``{"n": i, "pad": "..."}`` from N concurrent tasks, then
prints ``emitted <COUNT>`` and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio

from tidings import Realtime
from tidings.redis import RedisBackend


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("channel")
    parser.add_argument("count", type=int)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--size", type=int, default=0)
    args = parser.parse_args()
    pad = "x" * args.size
    realtime = Realtime(backend=RedisBackend(args.url, prefix=args.prefix))
    channel = realtime.channel(args.channel)
    numbers = iter(range(args.count))

    async def emitter() -> None:
        for n in numbers:
            await channel.emit("tick", {"n": n, "pad": pad})

    await asyncio.gather(*(emitter() for _ in range(args.tasks)))
    await realtime.aclose()
    await realtime.backend.aclose()
    print(f"emitted {args.count}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
