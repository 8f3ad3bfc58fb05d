"""Scenario 1: emit throughput on Redis -- tidings vs raw redis-py doing the same Redis work.

Raw redis-py sends one pipeline per emit (XADD with an exact MAXLEN + PUBLISH,
no transaction) on a ``BlockingConnectionPool`` as large as the number of
emitters: what an app without tidings would typically write. The batch mode
sends 100 events per call: ``channel.emit_many`` vs one pipeline of 100 x
(XADD + PUBLISH).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

from tidings import Realtime
from tidings.redis import RedisBackend

BATCH = 100
Emit = Callable[[int], Awaitable[object]]


async def _drive(emit: Emit, emitters: int, seconds: float, per_call: int = 1) -> float:
    """``emitters`` tasks calling ``emit`` back to back for ``seconds``; events per second."""
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
    return sum(counts) * per_call / (time.perf_counter() - started)


async def tidings_rate(url: str, tag: str, emitters: int, seconds: float, batch: bool) -> float:
    realtime = Realtime(backend=RedisBackend(url, prefix=f"bench:{tag}:"), max_length=10_000)
    channel = realtime.channel("bench")
    items = [("tick", {"n": i}) for i in range(BATCH)]
    try:
        await channel.emit("warmup", {"n": -1})
        if batch:
            return await _drive(lambda n: channel.emit_many(items), emitters, seconds, BATCH)
        return await _drive(lambda n: channel.emit("tick", {"n": n}), emitters, seconds)
    finally:
        await realtime.aclose()
        await realtime.backend.aclose()


async def raw_rate(url: str, tag: str, emitters: int, seconds: float, batch: bool) -> float:
    client = Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=emitters))
    key = f"raw:{tag}:bench"

    async def emit(n: int) -> object:
        pipe = client.pipeline(transaction=False)
        for i in range(BATCH if batch else 1):
            data = orjson.dumps({"n": i if batch else n})
            pipe.xadd(key, {"event": "tick", "data": data}, maxlen=10_000, approximate=False)
            pipe.publish(key, data)
        return await pipe.execute()

    try:
        await emit(-1)
        return await _drive(emit, emitters, seconds, BATCH if batch else 1)
    finally:
        await client.aclose()


MODES = {
    # name: (emitters, batch)
    "sequential": (1, False),
    "64 concurrent": (64, False),
    "batch of 100": (1, True),
}


async def run(url: str, runs: int, seconds: float) -> dict[str, tuple[list[float], list[float]]]:
    """Per mode: (tidings events/s per run, raw events/s per run), interleaved run by run."""
    results: dict[str, tuple[list[float], list[float]]] = {}
    for mode, (emitters, batch) in MODES.items():
        ours: list[float] = []
        theirs: list[float] = []
        for index in range(runs):
            tag = f"{mode.replace(' ', '')}{index}"
            ours.append(await tidings_rate(url, tag, emitters, seconds, batch))
            theirs.append(await raw_rate(url, tag, emitters, seconds, batch))
        results[mode] = (ours, theirs)
    return results
