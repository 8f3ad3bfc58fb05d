"""The checking SSE load generator: page-shape streams, EVERY frame parsed and checked.

    python -m bench.sse_check --port P --conns N [--offset I] [--single]

Opens N streams ``GET /api/realtime?channel=broadcast&channel=user-<i>`` (i from the
offset; with ``--single``, ``channel=broadcast`` only: the single-channel control that
the page shape is compared with, checked by the same parser), de-chunks the body
when the server sends ``Transfer-Encoding: chunked``,
splits it into SSE frames and parses the JSON of every ``data:`` line (frames
without a ``q`` -- connected, ping -- are skipped). Every event is checked per
(connection, channel) against the sequence numbers of :mod:`bench._page`:

* ``lost``: a gap (or, at ``stop``, events never received);
* ``duplicate``: the sequence number just seen again;
* ``disorder``: an older sequence number than the last one seen;
* ``foreign``: an event of another user's channel (a broken channel isolation).

Prints ``ready <ok> <failed>``, then obeys ``start`` / ``stop <json {"b": next
broadcast seq, "u": [next seq per user]}>`` / ``quit`` on stdin like
``bench.sse_load``. Latency is receive time (once per read) minus the emit time
carried in each event, both CLOCK_MONOTONIC; 100 µs buckets.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from bench._common import install_uvloop, raise_fd_limit
from bench.sse_load import closed_count, obey, open_streams


class Window:
    def __init__(self) -> None:
        self.frames = 0
        self.lost = 0
        self.duplicate = 0
        self.disorder = 0
        self.foreign = 0
        self.hist: dict[int, int] = {}
        self.last_at = 0.0


class CheckedStream(asyncio.Protocol):
    """One page: sequence state for ``broadcast`` (``seq[0]``) and its own user channel (``seq[1]``)."""

    def __init__(self, user: int, stats: list[Window], ready: asyncio.Future[bool], single: bool) -> None:
        self.user = user
        self.single = single
        self.stats = stats
        self.ready = ready
        self.head = b""
        self.chunked = False
        self.raw = b""  # undecoded chunked bytes
        self.left = 0  # bytes left in the current chunk
        self.crlf = False  # a chunk's trailing CRLF is still to skip
        self.tail = b""  # an incomplete SSE frame
        self.seq = [-1, -1]
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        channels = b"channel=broadcast" if self.single else b"channel=broadcast&channel=user-%d" % self.user
        transport.write(
            b"GET /api/realtime?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: text/event-stream\r\n\r\n" % channels
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)

    def _dechunk(self, data: bytes) -> bytes:
        buf = self.raw + data if self.raw else data
        out: list[bytes] = []
        pos, size = 0, len(buf)
        while pos < size:
            if self.left:
                take = min(self.left, size - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.left -= take
                self.crlf = not self.left
            elif self.crlf:
                if size - pos < 2:
                    break
                pos += 2
                self.crlf = False
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                self.left = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if not self.left:  # the last chunk: the stream ended
                    break
        self.raw = buf[pos:]
        return b"".join(out)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.head[:end].lower()
            self.chunked = b"transfer-encoding: chunked" in head
            data = self.head[end + 4 :]
            self.head = b""
            self.ready.set_result(head.startswith(b"http/1.1 200"))
        if self.chunked:
            data = self._dechunk(data)
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self.tail + data if self.tail else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.tail = buf
            return
        self.tail = buf[cut + 2 :]
        now = time.monotonic_ns() // 1000
        window = self.stats[0]
        hist = window.hist
        seq = self.seq
        for frame in buf[:cut].split(b"\n\n"):
            for line in frame.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                event = orjson.loads(line[5:])
                if "q" not in event:
                    event = event.get("data")
                    if not isinstance(event, dict) or "q" not in event:
                        continue  # connected, ping, ...
                key = event["k"]
                if key == -1:
                    slot = 0
                elif key == self.user:
                    slot = 1
                else:
                    window.foreign += 1
                    continue
                q = event["q"]
                last = seq[slot]
                if q == last + 1:
                    pass
                elif q > last:
                    window.lost += q - last - 1
                elif q == last:
                    window.duplicate += 1
                    continue
                else:
                    window.disorder += 1
                    continue
                seq[slot] = q
                window.frames += 1
                bucket = (now - event["t"]) // 100
                hist[bucket] = hist.get(bucket, 0) + 1
        window.last_at = now / 1e6


async def run(args: argparse.Namespace) -> None:
    stats = [Window()]
    streams = await open_streams(
        args.port,
        range(args.offset, args.offset + args.conns),
        lambda user, ready: CheckedStream(user, stats, ready, args.single),
    )

    def start() -> None:
        stats[0] = Window()

    async def stop(last: Any) -> dict[str, Any]:
        broadcast: int = last["b"] - 1
        users: list[int] = last["u"]

        def behind(stream: CheckedStream) -> int:
            return max(0, broadcast - stream.seq[0]) + max(0, users[stream.user] - 1 - stream.seq[1])

        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if not any(behind(s) for s in streams):
                break
            await asyncio.sleep(0.02)
        window = stats[0]
        missing = sum(behind(s) for s in streams)
        for stream in streams:
            # Each window stands alone: what was missing is counted once, here.
            stream.seq = [max(stream.seq[0], broadcast), max(stream.seq[1], users[stream.user] - 1)]
        return {
            "frames": window.frames,
            "lost": window.lost + missing,
            "duplicate": window.duplicate,
            "disorder": window.disorder,
            "foreign": window.foreign,
            "hist": {str(k): v for k, v in window.hist.items()},
            "last_at": window.last_at,
            "closed": closed_count(streams),
        }

    await obey(start, stop)
    for stream in streams:
        if stream.transport is not None:
            stream.transport.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--single", action="store_true", help="streams on broadcast only (the control)")
    parser.add_argument("--drain", type=float, default=10, help="seconds to wait for late events at stop")
    args = parser.parse_args()
    raise_fd_limit()
    install_uvloop()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
