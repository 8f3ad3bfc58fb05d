"""Presence on Redis: entering at scale, heartbeat cost, and fan-out with vs without presence.

    .venv/bin/python -m bench.presence [--streams 5000] [--members 5000] [--channels 50] [--runs 3]

Starts a private redis-server on loopback and prints, each the median of ``--runs``:

1. ``--streams`` SSE streams entering one channel: from the first request
   until ``presence_count()`` (read by another ``Realtime``) is exact, on the
   native server in this process with an identity hook; the same streams
   without presence (until every stream has its headers) as the baseline.
   Also ``--streams`` ``enter()`` calls made directly, 200 at a time.
2. heartbeat cost: one process holding ``--members`` connections spread over
   ``--channels`` channels, while only its heartbeats and sweeps run: every
   command Redis ran (``total_commands_processed``, which counts the commands
   inside scripts too) and the script calls among them, per round, measured
   at a 3 s TTL (a round every second) so any TTL can be read off (default
   30 s: a round every 10 s). A round is one pipelined round trip per node
   for the heartbeats, plus the sweep.
3. fan-out through ``Realtime`` subscriptions (one channel, ``FANOUT_SUBSCRIBERS``
   subscribers, ``FANOUT_EMITTERS`` concurrent emitters) with and without
   ``--members`` members present on that channel, heartbeating every 0.33 s.

A sanity figure, not a test: the machine is shared, and Redis, server and
clients run on the same few cores. The coordinator runs it; helpers only
smoke-test it with small numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench._common import raise_fd_limit
from tests.support.redis_server import RedisServer
from tidings import Message, Realtime
from tidings.asgi import Request

FANOUT_SUBSCRIBERS = 20
FANOUT_EMITTERS = 16
ENTER_CONCURRENCY = 200


def _realtime(url: str, prefix: str, **options: Any) -> Realtime:
    return Realtime(redis=f"{url}?prefix={prefix}", **options)


async def _gathered(count: int, concurrency: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``make(i)`` for i in range(count), at most ``concurrency`` at a time, in order."""
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> Any:
        async with limit:
            return await make(index)

    return await asyncio.gather(*(one(index) for index in range(count)))


async def _open_stream(port: int, target: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return writer


async def streams_entering(url: str, prefix: str, streams: int, *, presence: bool) -> float:
    """Seconds from the first request until every stream is present (or, without presence, open)."""
    from tidings.native import serve_native

    def identify(request: Request, channel: str) -> tuple[str, Any]:
        return str(request.query_params["user"]), None

    served = _realtime(url, prefix)
    watcher = _realtime(url, prefix)
    options: dict[str, Any] = {"presence": identify} if presence else {}
    server = await serve_native(served, "127.0.0.1", 0, path="/", max_connections=None, **options)
    writers: list[asyncio.StreamWriter] = []
    try:
        started = time.perf_counter()
        writers = await _gathered(
            streams, ENTER_CONCURRENCY, lambda i: _open_stream(server.port, f"/?channel=room&user=u{i}")
        )
        if presence:
            # Polling Redis is the measurement: nothing local could be awaited instead.
            while await watcher.channel("room").presence_count() < streams:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        return time.perf_counter() - started
    finally:
        for writer in writers:
            writer.close()
        await server.shutdown(grace=5)
        await served.aclose()
        await watcher.aclose()


async def direct_enters(url: str, prefix: str, count: int) -> float:
    realtime = _realtime(url, prefix)
    try:
        room = realtime.channel("direct")
        started = time.perf_counter()
        await _gathered(count, ENTER_CONCURRENCY, lambda i: room.enter(f"u{i}"))
        assert await room.presence_count() == count
        return time.perf_counter() - started
    finally:
        await realtime.aclose()


def _counters(info: dict[str, Any]) -> tuple[int, int]:
    """(every command Redis ran, including those inside scripts; script calls) from ``INFO all``."""
    scripts = sum(int(info.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha"))
    return int(info["total_commands_processed"]), scripts


async def heartbeat_cost(
    url: str, prefix: str, members: int, channels: int, seconds: float
) -> tuple[float, float]:
    """(commands Redis ran per round, script calls per round) for one process's heartbeats and sweeps."""
    from redis.asyncio import Redis

    holder = _realtime(url, prefix, presence_ttl=3.0)
    raw = Redis.from_url(url)
    try:
        await _gathered(
            members, ENTER_CONCURRENCY, lambda i: holder.channel(f"hb-{i % channels}").enter(f"u{i}")
        )
        await asyncio.sleep(1.2)  # let the first round pass
        before = _counters(await raw.info("all"))
        await asyncio.sleep(seconds)
        after = _counters(await raw.info("all"))
        rounds = seconds / 1.0  # presence_ttl / 3
        # Minus this function's own INFO call (the one of ``after`` counts).
        return (after[0] - before[0] - 1) / rounds, (after[1] - before[1]) / rounds
    finally:
        await holder.aclose()
        await raw.aclose()


async def fanout(url: str, prefix: str, seconds: float, members: int) -> float:
    """Deliveries per second to ``FANOUT_SUBSCRIBERS`` subscriptions of one channel."""
    listener = _realtime(url, prefix)
    emitter = _realtime(url, prefix)
    present = _realtime(url, prefix, presence_ttl=1.0)
    delivered = 0

    def on_data(message: Message) -> None:
        nonlocal delivered
        delivered += 1

    try:
        if members:
            await _gathered(members, ENTER_CONCURRENCY, lambda i: present.channel("fan").enter(f"u{i}"))
        for _ in range(FANOUT_SUBSCRIBERS):
            await listener.channel("fan").subscribe(on_data=on_data)
        stop = time.perf_counter() + seconds

        async def emit() -> None:
            channel = emitter.channel("fan")
            while time.perf_counter() < stop:
                await channel.emit("tick", {"n": 1})

        started = time.perf_counter()
        await asyncio.gather(*(emit() for _ in range(FANOUT_EMITTERS)))
        await asyncio.sleep(0.2)  # the last emits reach the subscribers
        return delivered / (time.perf_counter() - started)
    finally:
        for realtime in (listener, emitter, present):
            await realtime.aclose()


@dataclass(frozen=True, slots=True)
class Figures:
    """Medians over the runs; times in seconds."""

    present: float  # streams until presence_count() is exact
    open_only: float  # the same streams without presence, until all are open
    enters: float  # the same number of enter() calls
    commands_per_round: float  # Redis commands (inside scripts too) per heartbeat+sweep round
    scripts_per_round: float
    fanout_plain: float  # deliveries/s
    fanout_present: float


async def run(url: str, runs: int, *, streams: int, members: int, channels: int, seconds: float) -> Figures:
    with_presence, without, direct, costs, plain, loaded = [], [], [], [], [], []
    for index in range(runs):  # interleaved, so drift hits both alike
        with_presence.append(await streams_entering(url, f"s{index}p:", streams, presence=True))
        without.append(await streams_entering(url, f"s{index}n:", streams, presence=False))
        direct.append(await direct_enters(url, f"d{index}:", streams))
        costs.append(await heartbeat_cost(url, f"h{index}:", members, channels, seconds))
        plain.append(await fanout(url, f"f{index}n:", seconds, 0))
        loaded.append(await fanout(url, f"f{index}p:", seconds, members))
    median = statistics.median
    return Figures(
        median(with_presence),
        median(without),
        median(direct),
        median(cost[0] for cost in costs),
        median(cost[1] for cost in costs),
        median(plain),
        median(loaded),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    raise_fd_limit(4 * args.streams + 1024)
    server = RedisServer().start()
    try:
        got = await run(
            server.url,
            args.runs,
            streams=args.streams,
            members=args.members,
            channels=args.channels,
            seconds=args.seconds,
        )
    finally:
        server.stop()
    print(f"1. {args.streams} SSE streams entering one channel (native server, one process)")
    print(f"  until presence_count() is exact   {got.present:8.2f} s")
    print(f"  the same streams without presence {got.open_only:8.2f} s (until all are open)")
    print(f"  {args.streams} enter() calls, {ENTER_CONCURRENCY} at a time  {got.enters:8.2f} s")
    print(f"2. heartbeats and sweeps of one process: {args.members} connections on {args.channels} channels")
    commands, scripts = got.commands_per_round, got.scripts_per_round
    print(f"  per round: {commands:,.0f} Redis commands (in scripts too), {scripts:,.0f} script calls")
    print(
        f"  at the default TTL (a round every 10 s): {got.commands_per_round / 10:,.1f} commands/s a process"
    )
    print(f"3. fan-out: 1 channel x {FANOUT_SUBSCRIBERS} subscribers, {FANOUT_EMITTERS} emitters")
    print(f"  without presence                  {got.fanout_plain:10,.0f} deliveries/s")
    print(f"  with {args.members} members heartbeating   {got.fanout_present:10,.0f} deliveries/s")


if __name__ == "__main__":
    asyncio.run(main())
