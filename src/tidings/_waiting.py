"""Saying what a wait on the backend is for, so a wait is not mistaken for a hang.

A command or a server starting up retries an unreachable Redis (through
reconnects) until the backend's ``command_timeout``; without a word that is
several silent seconds. When a wait lasts longer than ``NOTICE_AFTER`` the
caller is told, once, what it waits for (which Redis, for how long). A quick
answer says nothing, so scripts see no noise. Used by the CLI's commands and
by the startup probe of ``tidings serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ._backend import Backend

NOTICE_AFTER = 0.5  # seconds: longer than a healthy round trip, short enough to reassure


def waiting_for(backend: Backend) -> str | None:
    """What a command on ``backend`` may wait for, or ``None`` if it never waits (memory)."""
    try:
        from tidings.redis import RedisStreamsBackend
    except ImportError:  # no redis-py: the backend cannot be a Redis one
        return None
    if not isinstance(backend, RedisStreamsBackend):
        return None
    where = ", ".join(backend.addresses)
    return f"waiting for Redis at {where} (up to {backend.command_timeout:g} s, its command_timeout)"


@contextlib.asynccontextmanager
async def notice_if_slow(
    what: str | None, say: Callable[[str], None], *, after: float = NOTICE_AFTER
) -> AsyncIterator[None]:
    """Run the body; if it lasts longer than ``after`` seconds, ``say`` ``what`` once."""
    if what is None:
        yield
        return
    notice = asyncio.get_running_loop().call_later(after, say, f"tidings: {what}...")
    try:
        yield
    finally:
        notice.cancel()
