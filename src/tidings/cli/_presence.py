"""``tidings presence CHANNEL``: who is on a channel now."""

from __future__ import annotations

from tidings import Member

from ._errors import require
from ._target import Remote, Target, failure


async def presence(target: Target, channel: str, limit: int | None) -> tuple[list[Member], int]:
    """Up to ``limit`` members (oldest first) and how many there are in all."""
    if isinstance(target, Remote):
        require("httpx", "client", "--url")
        from ._remote import using_api

        return await using_api(target, "reading presence", lambda client: client.presence(channel, limit))
    from tidings import TidingsError

    realtime = target.realtime()
    try:
        async with realtime:
            room = realtime.channel(channel)
            return await room.presence(limit=limit), await room.presence_count()
    except TidingsError as exc:
        raise failure(exc, target) from None
