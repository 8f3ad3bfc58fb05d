"""Scenario 2: latency from emit to a server-side subscriber, on Redis.

The emitter is another process (``bench._emitter``); the subscriber runs
here, on its own connections. tidings: ``channel.subscribe(on_data=...)``
on a ``RedisBackend``; baseline: a redis-py ``PubSub`` reading the channel
that a raw emitter feeds with XADD + PUBLISH pipelines (the same Redis work).
Latency = receive time - emit time carried in the event (CLOCK_MONOTONIC).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from bench._common import percentile
from bench._procs import _Child
from tidings import Message, Realtime
from tidings.redis import RedisBackend


async def _collect(url: str, mode: str, prefix: str, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    total = int(rate * seconds)
    done = asyncio.Event()

    def record(sent_us: int) -> None:
        latencies.append((time.monotonic_ns() // 1000 - sent_us) / 1000)
        if len(latencies) >= total:
            done.set()

    emitter = _Child(
        [
            "bench._emitter",
            "--url",
            url,
            "--mode",
            mode,
            "--prefix",
            prefix,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ]
    )
    cleanup: list[Any] = []
    try:
        if mode == "tidings":
            realtime = Realtime(backend=RedisBackend(url, prefix=prefix))

            def on_data(message: Message) -> None:
                if message.data["q"] >= 0:
                    record(message.data["t"])

            await realtime.channel("lat").subscribe(on_data=on_data)
            cleanup += [realtime.aclose, realtime.backend.aclose]
        else:
            client = Redis.from_url(url)
            pubsub = client.pubsub()
            await pubsub.subscribe(f"{prefix}lat")

            async def read() -> None:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        data = orjson.loads(message["data"])
                        if data["q"] >= 0:
                            record(data["t"])

            reader = asyncio.get_running_loop().create_task(read())
            cleanup += [pubsub.aclose, client.aclose]
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, emitter.line, 30.0)
        assert line == "ready", line
        emitter.send("go")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), seconds + 15)
        await loop.run_in_executor(None, emitter.line, 30.0)
    finally:
        if mode == "raw":
            reader.cancel()
        for close in cleanup:
            await close()
        emitter.stop()
    if len(latencies) < total:
        # A lost event counts as infinitely late.
        latencies += [float("inf")] * (total - len(latencies))
    return latencies


async def run(
    url: str, rates: list[float], runs: int, seconds: float
) -> dict[float, dict[str, list[dict[str, float]]]]:
    """Per rate and mode, one {p50, p99, p999} (ms) per run; tidings and raw alternate."""
    results: dict[float, dict[str, list[dict[str, float]]]] = {}
    for rate in rates:
        per_mode: dict[str, list[dict[str, float]]] = {"tidings": [], "raw": []}
        for index in range(runs):
            for mode in ("tidings", "raw"):
                values = sorted(await _collect(url, mode, f"lat:{rate:.0f}:{index}:{mode}:", rate, seconds))
                per_mode[mode].append(
                    {
                        "p50": percentile(values, 0.5),
                        "p99": percentile(values, 0.99),
                        "p999": percentile(values, 0.999),
                    }
                )
        results[rate] = per_mode
    return results
