"""An emitter process for the latency scenario: paced emits, each carrying its emit time.

    python -m bench._emitter --url URL --mode tidings|raw --prefix P --rate R --seconds S

Waits for ``go`` on stdin, then emits ``{"q": n, "t": µs on CLOCK_MONOTONIC}``
at R events/s (due events are started every millisecond, each as its own
task, at most 1 024 in flight), and prints ``done <count>``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

from bench._common import install_uvloop
from tidings import Realtime
from tidings.redis import RedisBackend


async def main(args: argparse.Namespace) -> None:
    emit: Callable[[dict[str, int]], Awaitable[object]]
    closers: list[Callable[[], Awaitable[object]]] = []
    if args.mode == "tidings":
        realtime = Realtime(backend=RedisBackend(args.url, prefix=args.prefix), max_length=100_000)
        channel = realtime.channel("lat")
        emit = lambda data: channel.emit("tick", data)  # noqa: E731
        closers += [realtime.aclose, realtime.backend.aclose]
    else:
        client = Redis(connection_pool=BlockingConnectionPool.from_url(args.url, max_connections=64))
        key = f"{args.prefix}lat"

        async def emit(data: dict[str, int]) -> object:
            payload = orjson.dumps(data)
            pipe = client.pipeline(transaction=False)
            pipe.xadd(key, {"event": "tick", "data": payload}, maxlen=100_000, approximate=False)
            pipe.publish(key, payload)
            return await pipe.execute()

        closers.append(client.aclose)
    # Open every connection (the raw pool grows to 64) before the clock starts.
    await asyncio.gather(*(emit({"q": -1, "t": 0}) for _ in range(64)))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    await reader.readline()
    total = int(args.rate * args.seconds)
    in_flight: set[asyncio.Task[object]] = set()
    started = loop.time()
    hard_stop = started + args.seconds + 10
    sent = 0
    while sent < total and loop.time() < hard_stop:
        due = min(total, int((loop.time() - started) * args.rate) + 1)
        while sent < due and len(in_flight) < 1024:
            task = loop.create_task(emit({"q": sent, "t": time.monotonic_ns() // 1000}))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        await asyncio.sleep(0.001)
    if in_flight:
        await asyncio.wait(in_flight, timeout=10)
    print(f"done {sent}", flush=True)
    for close in closers:
        await close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=["tidings", "raw"], required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    install_uvloop()
    asyncio.run(main(parser.parse_args()))
