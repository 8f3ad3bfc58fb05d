"""The page-shape emitter in its own process, on Redis: what an app's worker does.

    python -m bench.page_emit --stack tidings|broadcaster --redis URL

* ``tidings``: ``Realtime(redis=URL).channel(name).emit("tick", data)`` (the Python API),
  the same keys as the server's ``Realtime(redis=URL)``;
* ``broadcaster``: ``Broadcast(URL).publish(channel=name, message=json)``.

Prints ``ready``, then for each ``emit <rate> <user_rate> <seconds> <users>`` line on
stdin runs :class:`bench._page.PageEmitter` and prints its answer as one JSON line;
``quit`` (or end of input) ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench._common import install_uvloop
from bench._page import PageEmitter, Publish


async def _publisher(stack: str, url: str) -> tuple[Publish, Callable[[], Awaitable[object]]]:
    if stack == "broadcaster":
        from broadcaster import Broadcast

        broadcast = Broadcast(url)
        await broadcast.connect()

        async def publish_b(name: str, data: dict[str, int]) -> object:
            return await broadcast.publish(channel=name, message=orjson.dumps(data).decode())

        return publish_b, broadcast.disconnect
    from tidings import Realtime

    realtime = Realtime(redis=url, max_length=1000)
    handles: dict[str, Any] = {}

    async def publish_t(name: str, data: dict[str, int]) -> object:
        handle = handles.get(name)
        if handle is None:
            handle = handles[name] = realtime.channel(name)
        return await handle.emit("tick", data)

    return publish_t, realtime.aclose


async def main(args: argparse.Namespace) -> None:
    publish, close = await _publisher(args.stack, args.redis)
    emitter = PageEmitter(publish)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    try:
        while True:
            words = (await reader.readline()).decode().split()
            if not words or words[0] == "quit":
                break
            rate, user_rate, seconds, users = words[1:5]
            answer = await emitter.run(float(rate), float(user_rate), float(seconds), int(users))
            print(orjson.dumps(answer).decode(), flush=True)
    finally:
        await close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=["tidings", "broadcaster"], required=True)
    parser.add_argument("--redis", required=True)
    install_uvloop()
    asyncio.run(main(parser.parse_args()))
