"""Python heap per idle stream, by shape: one channel of its own, one shared channel, the page shape.

    python -m bench.idle_shape [--streams 2000] [--server native|uvicorn]

The server runs in this process on the memory backend, with ``tracemalloc``
on; the clients run in a child process (their memory is not counted). For
each shape it opens ``--streams`` streams, waits until the shared channel's
tap holds all of them, and reports the traced heap growth per stream. It
counts Python objects only (no socket buffers): what the stream code keeps.
The issue #13 target: the page shape (``broadcast`` + ``user-<i>``) costs at
most 1.5x a one-channel stream.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from typing import Any

from bench._common import ROOT, raise_fd_limit

SHAPES = {
    "one own channel": "channel=user-{i}",
    "one shared channel": "channel=broadcast",
    "broadcast + user-i": "channel=broadcast&channel=user-{i}",
}

_CLIENT = """
import asyncio, sys
async def main(port, count, query):
    conns = []
    for i in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /?{query.format(i=i)} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
        await reader.readuntil(b"connected")
        conns.append((reader, writer))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
"""


async def _serve(kind: str, realtime: Any) -> tuple[Any, int, Any]:
    """(endpoint, port, stop) for a server of ``kind`` in this process."""
    from tidings.asgi import handle, serve_native

    if kind == "native":
        server = await serve_native(realtime, "127.0.0.1", 0, path="/")
        return server.endpoint, server.port, server.shutdown
    import uvicorn

    from tests.asgi.live_server import LiveServer

    endpoint = handle(realtime)
    live = await LiveServer(endpoint).start()
    assert isinstance(live.server, uvicorn.Server)

    async def stop() -> None:
        await endpoint.shutdown(grace=2)
        await live.stop()

    return endpoint, live.port, stop


async def _measure(kind: str, streams: int, query: str, top: int = 0) -> float:
    from tidings import Realtime

    async with Realtime() as realtime:
        endpoint, port, stop = await _serve(kind, realtime)
        await asyncio.sleep(0.1)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        first = tracemalloc.take_snapshot() if top else None
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CLIENT,
            str(port),
            str(streams),
            query,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            await child.stdout.readline()
            shared = "broadcast" in query
            for _ in range(1000):  # every shared channel in its tap, the others settled
                taps = getattr(endpoint, "taps", None)  # (before #13, the native server's own)
                tap = None if taps is None else taps.taps.get("broadcast")
                if endpoint.stats().connections == streams and (
                    not shared or taps is None or (tap is not None and len(tap.members) == streams)
                ):
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # joined streams' own feeds finish closing
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            if first is not None:
                # Where the growth was allocated: the lines that cost the most per stream.
                for stat in tracemalloc.take_snapshot().compare_to(first, "lineno")[:top]:
                    frame = stat.traceback[0]
                    print(f"  {stat.size_diff / streams:7.0f} B/stream  {frame.filename}:{frame.lineno}")
        finally:
            assert child.stdin is not None
            child.stdin.close()
            await child.wait()
        await stop()
    return (after - before) / streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--server", choices=["native", "uvicorn"], default="native")
    parser.add_argument("--top", type=int, default=0, help="show the N source lines that allocated most")
    args = parser.parse_args()
    raise_fd_limit()
    sys.path.insert(0, str(ROOT))
    tracemalloc.start()
    results = {}
    for name, query in SHAPES.items():
        if args.top:
            print(name)
        results[name] = asyncio.run(_measure(args.server, args.streams, query, args.top))
    for name, per_stream in results.items():
        print(f"{args.server:8s} {name:20s} {per_stream:8.0f} B/stream")
    page = results["broadcast + user-i"]
    for base in ("one own channel", "one shared channel"):
        print(f"page shape / {base}: {page / results[base]:.2f}x")


if __name__ == "__main__":
    main()
