"""Emit throughput on Redis: tidings vs raw redis-py, 64 concurrent emitters.

    .venv/bin/python bench/emit_redis.py [--url redis://...] [--emitters 64] [--seconds 3]

Without ``--url`` a private redis-server is started on a free port. Prints
emits/s (median of 3 runs) for:

* tidings: ``channel.emit`` (validation, coalesced Lua appends on one
  connection), all emitters on one channel, and spread over 64 channels;
* raw redis-py, one pipeline per emit (XADD + PUBLISH, no transaction) on a
  blocking pool -- what an app without tidings would typically write.

A sanity figure, not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_server import RedisServer

from tidings import Realtime
from tidings.redis import RedisBackend

Emit = Callable[[int], Awaitable[object]]


async def _drive(emit: Emit, emitters: int, seconds: float) -> float:
    """Run ``emitters`` tasks emitting back to back for ``seconds``; emits per second."""
    stop = time.perf_counter() + seconds
    counts = [0] * emitters

    async def emitter(index: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            await emit(n)
            n += 1
        counts[index] = n

    started = time.perf_counter()
    await asyncio.gather(*(emitter(i) for i in range(emitters)))
    return sum(counts) / (time.perf_counter() - started)


async def tidings_run(url: str, run: int, emitters: int, seconds: float) -> float:
    realtime = Realtime(backend=RedisBackend(url, prefix=f"bench:{run}:"), max_length=10_000)
    channel = realtime.channel("bench")
    try:
        await channel.emit("warmup", {"n": -1})
        return await _drive(lambda n: channel.emit("tick", {"n": n}), emitters, seconds)
    finally:
        await realtime.aclose()
        await realtime.backend.aclose()


async def tidings_many_channels_run(url: str, run: int, emitters: int, seconds: float) -> float:
    realtime = Realtime(backend=RedisBackend(url, prefix=f"bench-many:{run}:"), max_length=10_000)
    channels = [realtime.channel(f"bench{i}") for i in range(emitters)]
    turn = iter(range(10**12))
    try:
        await channels[0].emit("warmup", {"n": -1})
        return await _drive(
            lambda n: channels[next(turn) % emitters].emit("tick", {"n": n}), emitters, seconds
        )
    finally:
        await realtime.aclose()
        await realtime.backend.aclose()


async def raw_run(url: str, run: int, emitters: int, seconds: float) -> float:
    client = Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=emitters))
    key = f"raw:{run}:bench"

    async def emit(n: int) -> object:
        data = orjson.dumps({"n": n})
        pipe = client.pipeline(transaction=False)
        pipe.xadd(key, {"event": "tick", "data": data}, maxlen=10_000, approximate=False)
        pipe.publish(key, data)
        return await pipe.execute()

    try:
        await emit(-1)
        return await _drive(emit, emitters, seconds)
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--emitters", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = None if args.url else RedisServer().start()
    url = args.url or server.url  # type: ignore[union-attr]
    try:
        benches = (
            ("tidings emit, one channel", tidings_run),
            ("tidings emit, 64 channels", tidings_many_channels_run),
            ("raw redis-py pipeline/emit", raw_run),
        )
        for name, bench in benches:
            rates = [await bench(url, run, args.emitters, args.seconds) for run in range(args.runs)]
            print(
                f"{name:28s} {statistics.median(rates):>9,.0f} emits/s "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}; {args.emitters} emitters)"
            )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
