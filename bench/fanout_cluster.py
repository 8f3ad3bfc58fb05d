"""Fan-out on a Redis Cluster vs one Redis, live latency vs redis-py's sharded reader, SSE workers.

    .venv/bin/python bench/fanout_cluster.py [--seconds 2] [--runs 3] [--skip-sse]

Starts its own servers on loopback (one redis-server, a 3-primary cluster)
and prints, each the median of ``--runs`` runs made in this same process:

1. fan-out: deliveries/s through ``Realtime`` subscriptions (24 channels,
   4 subscribers each, 32 concurrent emitters, one process) on the cluster
   and on one Redis;
2. live latency, emit (or SPUBLISH) to delivery: p50/p99, and messages
   still undelivered 1 s after the last was sent; 6 channels on the 3
   primaries, traffic spread over them or on one only. tidings' one reader
   per primary vs redis-py's ``ClusterPubSub.get_sharded_message()`` called
   without ``target_node`` (the convenience loop, which waits up to
   ``timeout`` on one node's connection before it looks at the next), with a
   short and a typical timeout;
3. with the SSE endpoint: deliveries/s to 40 SSE streams from one
   ``tidings serve`` process vs two, on the cluster.

A sanity figure, not a test: the machine is shared, and everything (Redis,
servers, clients) runs on the same few cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx
from redis.asyncio.cluster import RedisCluster as RedisPyCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cli.processes import TidingsProcess, cli_env
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from tidings import Message, Realtime
from tidings.redis import RedisClusterBackend

CHANNELS = 24
SUBSCRIBERS = 4
EMITTERS = 32


def median_of(label: str, values: list[float], unit: str) -> None:
    runs = ", ".join(f"{v:,.0f}" for v in values)
    print(f"  {label:34s} {statistics.median(values):>10,.0f} {unit}  (runs: {runs})", flush=True)


# -- 1. fan-out -------------------------------------------------------------------------------


async def fanout_run(url: str, seconds: float) -> float:
    """Deliveries per second, from the first emit to the last delivery."""
    emitter, listener = Realtime(redis=url), Realtime(redis=url)
    names = [f"fan{i}" for i in range(CHANNELS)]
    received = 0
    expected = -1
    last = 0.0
    done = asyncio.Event()

    def count(message: Message) -> None:
        nonlocal received, last
        received += 1
        last = time.perf_counter()
        if received == expected:
            done.set()

    for name in names:
        for _ in range(SUBSCRIBERS):
            await listener.channel(name).subscribe(on_data=count)
    emitted = 0
    started = time.perf_counter()
    stop = started + seconds

    async def emit_loop(offset: int) -> None:
        nonlocal emitted
        turn = offset
        while time.perf_counter() < stop:
            await emitter.channel(names[turn % CHANNELS]).emit("tick", {"n": turn})
            emitted += 1
            turn += EMITTERS

    await asyncio.gather(*(emit_loop(i) for i in range(EMITTERS)))
    expected = emitted * SUBSCRIBERS
    if received < expected:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 20)
    await emitter.aclose()
    await listener.aclose()
    if received != expected:
        raise RuntimeError(f"fan-out lost deliveries: {received} of {expected}")
    return received / (last - started)


# -- 2. latency -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def paced(total: int, rate: float, send: Callable[[int], Awaitable[object]]) -> None:
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(n)


def spread_names(cluster: RedisCluster, key_of: Callable[[str], str], per_node: int) -> list[str]:
    by_port: dict[int, list[str]] = {node.port: [] for node in cluster.primaries}
    for n in range(5000):
        name = f"lat{n}"
        names = by_port[cluster.owner_of(key_of(name)).port]
        if len(names) < per_node:
            names.append(name)
    return [name for names in by_port.values() for name in names]


async def tidings_latency(
    cluster: RedisCluster, total: int, rate: float, *, hot: bool
) -> tuple[list[float], int]:
    backend = RedisClusterBackend(cluster.url, prefix="lat:")
    names = spread_names(cluster, backend.stream_key, 2)
    targets = names[:2] if hot else names  # the first two live on one primary
    emitter, listener = Realtime(redis=cluster.url + "?prefix=lat:"), Realtime(backend=backend)
    sent: dict[int, float] = {}
    delays: list[float] = []

    def arrived(message: Message) -> None:
        delays.append(time.perf_counter() - sent[message.data])

    for name in names:
        await listener.channel(name).subscribe(on_data=arrived)

    async def send(n: int) -> None:
        sent[n] = time.perf_counter()
        await emitter.channel(targets[n % len(targets)]).emit("t", n)

    await paced(total, rate, send)
    await asyncio.sleep(1.0)
    await emitter.aclose()
    await listener.aclose()
    await backend.aclose()
    return delays, total - len(delays)


async def redis_py_latency(
    cluster: RedisCluster, total: int, rate: float, *, hot: bool, poll: float
) -> tuple[list[float], int]:
    node = cluster.primaries[0]
    client = RedisPyCluster(host="127.0.0.1", port=node.port)
    await client.initialize()
    names = spread_names(cluster, lambda name: name, 2)
    targets = names[:2] if hot else names
    pubsub = client.pubsub()
    await pubsub.ssubscribe(*names)
    sent: dict[int, float] = {}
    delays: list[float] = []
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set():
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=poll)
            if message is not None and message["type"] == "smessage":
                delays.append(time.perf_counter() - sent[int(message["data"])])

    reader = asyncio.create_task(read())

    async def send(n: int) -> None:
        sent[n] = time.perf_counter()
        await client.spublish(targets[n % len(targets)], str(n))

    await asyncio.sleep(0.5)  # let it subscribe on every node
    await paced(total, rate, send)
    await asyncio.sleep(1.0)
    done.set()
    await reader
    await pubsub.aclose()
    await client.aclose()
    return delays, total - len(delays)


# -- 3. SSE workers ---------------------------------------------------------------------------


async def sse_run(bases: list[str], url: str, seconds: float, streams: int) -> float:
    """Deliveries/s to ``streams`` SSE streams spread over the servers at ``bases``."""
    counts = [0] * streams
    marker = b'data: {"id":"'
    expected = -1
    done = asyncio.Event()

    async def consume(index: int, client: httpx.AsyncClient, ready: asyncio.Event) -> None:
        base = bases[index % len(bases)]
        async with client.stream("GET", f"{base}/api/realtime?channel=sse") as response:
            ready.set()
            async for chunk in response.aiter_raw():
                counts[index] += chunk.count(marker)
                if sum(counts) == expected:
                    done.set()

    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client:
        readies = [asyncio.Event() for _ in range(streams)]
        tasks = [asyncio.create_task(consume(i, client, readies[i])) for i in range(streams)]
        for ready in readies:
            await ready.wait()
        await asyncio.sleep(0.3)  # every stream live
        emitter = Realtime(redis=url)
        started = time.perf_counter()
        stop = started + seconds
        emitted = 0

        async def emit_loop() -> None:
            nonlocal emitted
            while time.perf_counter() < stop:
                await emitter.channel("sse").emit("tick", {"n": emitted})
                emitted += 1

        await asyncio.gather(*(emit_loop() for _ in range(16)))
        expected = emitted * streams
        if sum(counts) < expected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 30)
        elapsed = time.perf_counter() - started
        await emitter.aclose()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if sum(counts) != expected:
        raise RuntimeError(f"SSE lost deliveries: {sum(counts)} of {expected}")
    return expected / elapsed


def start_servers(count: int, url: str) -> list[TidingsProcess]:
    env = cli_env(SERVED_REDIS_URL=url)
    return [
        TidingsProcess("serve", "tests.cluster.served_app:realtime", "--port", "0", env=env).start()
        for _ in range(count)
    ]


# -- main -------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-sse", action="store_true")
    args = parser.parse_args()
    single = RedisServer().start()
    cluster = RedisCluster(3).start()
    try:
        print(
            f"1. fan-out: {CHANNELS} channels x {SUBSCRIBERS} subscribers, {EMITTERS} emitters, one process"
        )
        cluster_rates, single_rates = [], []
        for run in range(args.runs):  # interleaved, so drift hits both alike
            cluster_rates.append(await fanout_run(f"{cluster.url}?prefix=f{run}:", args.seconds))
            single_rates.append(await fanout_run(f"{single.url}?prefix=f{run}:", args.seconds))
        median_of("Redis Cluster (3 primaries)", cluster_rates, "deliveries/s")
        median_of("one Redis", single_rates, "deliveries/s")

        for hot, rate in ((False, 300.0), (True, 50.0)):
            total = int(rate * args.seconds)
            traffic = "to 2 channels on one primary" if hot else "spread over the 3 primaries"
            print(f"2. live latency: 6 channels subscribed, {total} messages at {rate:.0f}/s {traffic}")
            for name, measure in (
                ("tidings, one reader per primary", partial(tidings_latency, hot=hot)),
                ("redis-py get_sharded_message(timeout=0.01)", partial(redis_py_latency, hot=hot, poll=0.01)),
                ("redis-py get_sharded_message(timeout=1)", partial(redis_py_latency, hot=hot, poll=1.0)),
            ):
                delays, missing = await measure(cluster, total, rate)
                print(
                    f"  {name:42s} p50 {percentile(delays, 0.5) * 1000:8.2f} ms   "
                    f"p99 {percentile(delays, 0.99) * 1000:8.2f} ms   "
                    f"max {max(delays) * 1000:8.1f} ms   undelivered 1 s after the last: {missing}",
                    flush=True,
                )

        if not args.skip_sse:
            streams = 40
            print(f"3. SSE: {streams} streams of one channel, 16 emitters, on the cluster")
            for workers in (1, 2):
                url = f"{cluster.url}?prefix=s{workers}:"
                servers = start_servers(workers, url)
                try:
                    bases = [server.base for server in servers]
                    rates = [await sse_run(bases, url, args.seconds, streams) for _ in range(args.runs)]
                finally:
                    for server in servers:
                        server.stop()
                median_of(f"{workers} tidings serve process(es)", rates, "deliveries/s")
    finally:
        cluster.stop()
        single.stop()


if __name__ == "__main__":
    asyncio.run(main())
