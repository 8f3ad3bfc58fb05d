"""Streams in presence: who a request is, entering its channels for the stream's lifetime.

Opt-in per endpoint (``handle(..., presence=identify)``) and per channel:
``identify(request, channel)`` returns ``(client_id, info)`` to enter the
stream into that channel's presence, or None to stay out. It runs after the
middleware allowed the request, so it can read what authentication read
(a header, a cookie, a verified token).

A closed stream leaves after ``grace`` seconds, not at once: a browser that
reloads, or reconnects after a server restart, enters again before that, so
its member never leaves and nobody sees "Ada left / Ada joined". A server
that dies stops heartbeating; its streams leave after the presence TTL.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from tidings._checks import positive_seconds
from tidings._exceptions import InvalidInputError
from tidings._presence import Membership, is_presence_channel

from ._errors import BadRequest
from ._request import Request

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")

Identity: TypeAlias = tuple[str, Any]
PresenceHook: TypeAlias = Callable[[Request, str], Awaitable[Identity | None] | Identity | None]
"""``identify(request, channel)`` -> ``(client_id, info)`` to be present on ``channel``, or None."""


class StreamPresence:
    def __init__(self, realtime: Realtime, identify: PresenceHook, *, grace: float | None) -> None:
        if not callable(identify):
            raise TypeError(f"presence: must be callable, got {identify!r}")
        self._realtime = realtime
        self._identify = identify
        self._grace = positive_seconds("presence_grace", grace) if grace is not None else None
        # Leaves waiting out the grace period, with what they will leave.
        self._leaving: dict[asyncio.Task[None], Sequence[Membership]] = {}

    @property
    def grace(self) -> float:
        """Seconds a closed stream stays present (default: the Realtime's presence TTL)."""
        return self._grace if self._grace is not None else self._realtime.presence_ttl

    async def identities(self, request: Request, channels: Sequence[str]) -> list[tuple[str, Identity]]:
        """``(channel, (client_id, info))`` for each channel the request is to be present on."""
        found: list[tuple[str, Identity]] = []
        for channel in channels:
            if is_presence_channel(channel):
                continue  # watching who is present is not being present
            identity = self._identify(request, channel)
            if inspect.isawaitable(identity):
                identity = await identity
            if identity is None:
                continue
            if not isinstance(identity, tuple) or len(identity) != 2:
                raise TypeError(f"presence hook: must return (client_id, info) or None, got {identity!r}")
            found.append((channel, identity))
        return found

    async def enter(self, identities: Sequence[tuple[str, Identity]]) -> list[Membership]:
        memberships: list[Membership] = []
        try:
            for channel, (client_id, info) in identities:
                memberships.append(await self._realtime.channel(channel).enter(client_id, info))
        except InvalidInputError as exc:
            self.release(memberships, at_once=True)
            raise BadRequest(f"presence: {exc}", 400) from None
        except BaseException:
            self.release(memberships, at_once=True)
            raise
        return memberships

    def release(self, memberships: Sequence[Membership], *, at_once: bool = False) -> None:
        """Leave, after the grace period unless ``at_once``."""
        if not memberships:
            return
        delay = 0.0 if at_once else self.grace
        task = asyncio.get_running_loop().create_task(
            self._leave(memberships, delay), name="tidings-presence-leave"
        )
        self._leaving[task] = memberships
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._leaving.pop(task, None)

    def abandon(self, memberships: Sequence[Membership] = ()) -> None:
        """The server is shutting down: stop heartbeating these memberships and every
        one still in its grace period, without leaving. They expire after the presence
        TTL unless their clients reconnect elsewhere first (then they never leave)."""
        for membership in memberships:
            membership.abandon()
        for task, waiting in list(self._leaving.items()):
            task.cancel()
            for membership in waiting:
                membership.abandon()
        self._leaving.clear()

    async def _leave(self, memberships: Sequence[Membership], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        for membership in memberships:
            try:
                await membership.leave()
            except Exception:  # the backend is down: the TTL removes it instead
                logger.warning("could not leave presence of %r", membership.channel, exc_info=True)
