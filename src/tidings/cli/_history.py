"""``tidings history CHANNEL``: stored events, oldest first."""

from __future__ import annotations

from typing import Any

from tidings import Message

from ._errors import require
from ._target import Remote, Target, failure


async def history(target: Target, channel: str, options: dict[str, Any]) -> list[Message]:
    """``options``: ``limit``, ``start``, ``end``, ``after`` as ``Channel.history`` takes them."""
    if isinstance(target, Remote):
        require("httpx", "client", "--url")
        from ._remote import using_api

        return await using_api(target, "reading history", lambda client: client.history(channel, options))

    from tidings import TidingsError
    from tidings._waiting import notice_if_slow, waiting_for

    from ._output import to_stderr

    realtime = target.realtime()
    try:
        async with realtime, notice_if_slow(waiting_for(realtime.backend), to_stderr):
            return await realtime.channel(channel).history(**options)
    except TidingsError as exc:
        raise failure(exc, target) from None
