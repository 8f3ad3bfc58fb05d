"""A separate OS process that holds presence members, for tests that ``kill -9`` it.

    python -m tests.redis.presence_process URL PREFIX CHANNEL TTL CLIENT...

Enters each CLIENT on CHANNEL (two connections each) with ``presence_ttl=TTL``,
prints ``entered`` and keeps heartbeating until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio

from tidings import Realtime


def prefixed(url: str, prefix: str) -> str:
    """``url`` with ``prefix=`` added to its query: every key of the test under its own prefix."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}prefix={prefix}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("channel")
    parser.add_argument("ttl", type=float)
    parser.add_argument("clients", nargs="+")
    args = parser.parse_args()
    realtime = Realtime(redis=prefixed(args.url, args.prefix), presence_ttl=args.ttl)
    channel = realtime.channel(args.channel)
    for client in args.clients:
        await channel.enter(client, {"pid": "holder"})
        await channel.enter(client, {"pid": "holder"})
    print("entered", flush=True)
    await asyncio.get_running_loop().create_future()  # until killed


if __name__ == "__main__":
    asyncio.run(main())
