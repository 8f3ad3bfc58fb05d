"""Scenario 5: reading 1 000 stored events, and subscribing with a replay of 1 000 then live (Redis).

Baselines with raw redis-py (hiredis): ``XREVRANGE key + - COUNT 1000`` with
each entry decoded into a dict and its JSON data parsed (what ``history()``
returns); and for the subscribe: SUBSCRIBE, then XREVRANGE 1 000, then wait
for one live PUBLISH -- without tidings' gap/duplicate handling.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from tidings import Message, Realtime
from tidings.redis import RedisBackend

COUNT = 1000


async def _tidings(url: str, repeats: int) -> tuple[list[float], list[float]]:
    realtime = Realtime(backend=RedisBackend(url, prefix="hist:"), max_length=10_000)
    emitter = Realtime(backend=RedisBackend(url, prefix="hist:"), max_length=10_000)
    channel = realtime.channel("h")
    try:
        for start in range(0, COUNT, 100):
            await emitter.channel("h").emit_many(
                [("tick", {"n": start + i, "text": "x" * 40}) for i in range(100)]
            )
        reads: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            messages = await channel.history(limit=COUNT)
            reads.append((time.perf_counter() - started) * 1000)
            assert len(messages) == COUNT
        subscribes: list[float] = []
        for index in range(repeats):
            got: list[Message] = []
            live = asyncio.Event()

            def on_data(message: Message, got: list[Message] = got, live: asyncio.Event = live) -> None:
                got.append(message)
                if len(got) == COUNT + 1:
                    live.set()

            started = time.perf_counter()
            subscription = await realtime.channel("h").subscribe(on_data=on_data, history={"limit": COUNT})
            await emitter.channel("h").emit("live", {"n": -index})
            await asyncio.wait_for(live.wait(), 10)
            subscribes.append((time.perf_counter() - started) * 1000)
            await subscription()
        return reads, subscribes
    finally:
        for rt in (realtime, emitter):
            await rt.aclose()
            await rt.backend.aclose()


async def _raw(url: str, repeats: int) -> tuple[list[float], list[float]]:
    client = Redis.from_url(url)
    key = "rawhist:h"
    try:
        pipe = client.pipeline(transaction=False)
        for n in range(COUNT):
            pipe.xadd(key, {"event": "tick", "data": orjson.dumps({"n": n, "text": "x" * 40})})
        await pipe.execute()

        def decode(raw: list[Any]) -> list[dict[str, Any]]:
            return [
                {"id": rid.decode(), "event": f[b"event"].decode(), "data": orjson.loads(f[b"data"])}
                for rid, f in reversed(raw)
            ]

        reads: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            entries = decode(await client.xrevrange(key, "+", "-", count=COUNT))
            reads.append((time.perf_counter() - started) * 1000)
            assert len(entries) == COUNT
        subscribes: list[float] = []
        for index in range(repeats):
            started = time.perf_counter()
            pubsub = client.pubsub()
            await pubsub.subscribe(key)
            await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
            entries = decode(await client.xrevrange(key, "+", "-", count=COUNT))
            await client.publish(key, orjson.dumps({"n": -index}))
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is not None:
                    orjson.loads(message["data"])
                    break
            subscribes.append((time.perf_counter() - started) * 1000)
            assert len(entries) == COUNT
            await pubsub.aclose()
        return reads, subscribes
    finally:
        await client.aclose()


async def run(url: str, repeats: int) -> dict[str, tuple[float, float]]:
    """Median ms: {"read": (tidings, raw), "subscribe": (tidings, raw)}."""
    ours = await _tidings(url, repeats)
    theirs = await _raw(url, repeats)
    return {
        "read": (statistics.median(ours[0]), statistics.median(theirs[0])),
        "subscribe": (statistics.median(ours[1]), statistics.median(theirs[1])),
    }
