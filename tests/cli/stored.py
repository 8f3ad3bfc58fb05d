"""Reading what the CLI stored, with the library itself (not through the CLI under test)."""

from __future__ import annotations

from typing import Any

from tidings import Realtime


async def stored(redis_url: str, channel: str) -> list[dict[str, Any]]:
    async with Realtime(redis=redis_url) as realtime:
        return [message.to_dict() for message in await realtime.channel(channel).history()]


async def emit(redis_url: str, channel: str, *items: tuple[str, Any]) -> list[str]:
    async with Realtime(redis=redis_url) as realtime:
        return await realtime.channel(channel).emit_many(list(items))
