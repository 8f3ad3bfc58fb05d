"""The SSE load generator, in its own process: raw asyncio sockets, minimal SSE parsing.

    python -m bench.sse_load stream --port P --conns N --channels K [--offset I]
    python -m bench.sse_load churn --port P --cycles N --concurrency C

``stream`` opens N keep-alive ``GET /api/realtime?channel=c<i % K>`` streams,
prints ``ready <ok> <failed>``, then obeys lines on stdin:

* ``start``: zero the window's counters;
* ``stop <json: last seq per channel>``: wait (at most 10 s) until every
  stream has seen its channel's last event, then print one JSON line:
  frames received, frames lost (by sequence number, per connection),
  out-of-order/duplicate frames, a latency histogram (100 µs buckets) and the
  time the last frame arrived;
* ``quit``.

Latency is receive time minus the emit time carried in each event (both on
CLOCK_MONOTONIC, which is system-wide). Only the first and last event of each
read are parsed; the other events of the read are counted, and every event of
the read is given the first one's latency -- the oldest in the read, so an
upper bound for the others.

``churn`` connects, waits for the response headers, and disconnects, N times
over C concurrent workers; prints cycles/s.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson

from bench._common import install_uvloop, raise_fd_limit

_Q = b'"q":'
_T = b'"t":'


class Window:
    def __init__(self) -> None:
        self.frames = 0
        self.lost = 0
        self.disorder = 0
        self.hist: dict[int, int] = {}
        self.last_at = 0.0


class SseConnection(asyncio.Protocol):
    __slots__ = ("channel", "headers", "last_seq", "ready", "stats", "tail", "transport")

    def __init__(self, channel: int, stats: list[Window], ready: asyncio.Future[bool]) -> None:
        self.channel = channel
        self.stats = stats
        self.ready = ready
        self.headers = b""
        self.tail = b""
        self.last_seq = -1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(
            b"GET /api/realtime?channel=c%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: text/event-stream\r\n\r\n" % self.channel
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.headers += data
            end = self.headers.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.headers.startswith(b"HTTP/1.1 200")
            data = self.headers[end + 4 :]
            self.headers = b""
            self.ready.set_result(ok)
        if self.tail:
            data = self.tail + data
        cut = max(data.rfind(b"\n\n") + 2, data.rfind(b"\n\r\n") + 3, 0)
        if cut < len(data):
            self.tail = data[cut:]
            data = data[:cut]
        else:
            self.tail = b""
        count = data.count(_Q)
        if not count:
            return
        now = time.monotonic_ns() // 1000
        window = self.stats[0]
        i = data.find(_Q) + 4
        first = int(data[i : data.find(b",", i)])
        j = data.find(_T, i) + 4
        sent = int(data[j : data.find(b"}", j)])
        k = data.rfind(_Q) + 4
        last = int(data[k : data.find(b",", k)]) if count > 1 else first
        if first != self.last_seq + 1 or last - first + 1 != count:
            if first > self.last_seq + 1 and last - first + 1 == count:
                window.lost += first - self.last_seq - 1
            else:
                window.disorder += 1
        self.last_seq = last
        window.frames += count
        bucket = (now - sent) // 100
        hist = window.hist
        hist[bucket] = hist.get(bucket, 0) + count
        window.last_at = now / 1e6


P = TypeVar("P", bound=asyncio.Protocol)


async def open_streams(
    port: int, indexes: Iterable[int], make: Callable[[int, asyncio.Future[bool]], P]
) -> list[P]:
    """Connect one stream per index (200 at a time); print ``ready <ok> <failed>``; the streams that got 200.

    ``make(index, ready)`` builds the protocol, which resolves ``ready`` with
    whether the response head said 200 (False if the connection closed first).
    """
    loop = asyncio.get_running_loop()
    opened: list[P] = []
    gate = asyncio.Semaphore(200)

    async def open_one(index: int) -> bool:
        async with gate:
            ready: asyncio.Future[bool] = loop.create_future()
            stream = make(index, ready)
            try:
                await loop.create_connection(lambda: stream, "127.0.0.1", port)
                ok = await asyncio.wait_for(ready, 30)
            except (OSError, TimeoutError):
                return False
            if ok:
                opened.append(stream)
            return ok

    results = await asyncio.gather(*(open_one(index) for index in indexes))
    ok = sum(results)
    print(f"ready {ok} {len(results) - ok}", flush=True)
    return opened


async def obey(start: Callable[[], None], stop: Callable[[Any], Awaitable[dict[str, Any]]]) -> None:
    """Follow the control lines on stdin: ``start`` (answered ``ok``), ``stop <json>`` (answered with
    ``stop``'s JSON line), ``quit`` or end of input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            return
        if line == "start":
            start()
            print("ok", flush=True)
        elif line.startswith("stop"):
            print(orjson.dumps(await stop(orjson.loads(line[5:]))).decode(), flush=True)


def closed_count(streams: Iterable[Any]) -> int:
    return sum(1 for s in streams if s.transport is None or s.transport.is_closing())


async def stream(args: argparse.Namespace) -> None:
    stats = [Window()]
    connections = await open_streams(
        args.port,
        range(args.offset, args.offset + args.conns),
        lambda index, ready: SseConnection(index % args.channels, stats, ready),
    )

    def start() -> None:
        stats[0] = Window()

    async def stop(last: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            behind = [c for c in connections if c.last_seq < last[c.channel] - 1]
            if not behind:
                break
            await asyncio.sleep(0.02)
        window = stats[0]
        behind_frames = sum(
            last[c.channel] - 1 - c.last_seq for c in connections if c.last_seq < last[c.channel] - 1
        )
        return {
            "frames": window.frames,
            "lost": window.lost + behind_frames,
            "disorder": window.disorder,
            "hist": {str(k): v for k, v in window.hist.items()},
            "last_at": window.last_at,
            "closed": closed_count(connections),
        }

    await obey(start, stop)
    for conn in connections:
        if conn.transport is not None:
            conn.transport.close()


async def churn(args: argparse.Namespace) -> None:
    request = b"GET /api/realtime?channel=c0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    left = [args.cycles]
    errors = [0]
    deadline = time.monotonic() + args.max_seconds

    async def worker() -> None:
        while left[0] > 0 and time.monotonic() < deadline:
            left[0] -= 1
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors[0] += 1
                writer.close()
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                errors[0] += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started
    done = args.cycles - max(left[0], 0)
    print(orjson.dumps({"cycles": done, "seconds": elapsed, "errors": errors[0]}).decode(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--conns", type=int, required=True)
    s.add_argument("--channels", type=int, default=1)
    s.add_argument("--offset", type=int, default=0)
    c = sub.add_parser("churn")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--cycles", type=int, required=True)
    c.add_argument("--concurrency", type=int, default=32)
    c.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    raise_fd_limit()
    install_uvloop()
    asyncio.run(stream(args) if args.mode == "stream" else churn(args))


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
