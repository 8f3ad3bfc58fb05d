"""The hub's local state: one ``ChannelState`` per subscribed Redis channel, and the
listeners attached to it (``RedisSubscription``, what ``subscribe`` returns)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tidings._backend import Attachment, BackendStatus
from tidings._ids import IdKey

from ._link import Link

logger = logging.getLogger("tidings.redis")


class ChannelState:
    """Local state of one Redis Pub/Sub channel."""

    __slots__ = (
        "channel",
        "confirmed",
        "confirmed_in",
        "head",
        "head_task",
        "joining",
        "key",
        "link",
        "listeners",
        "name",
        "needs_reset",
        "refused",
    )

    def __init__(self, name: bytes, key: str, channel: str) -> None:
        self.name = name
        self.key = key
        self.channel = channel
        self.listeners: dict[RedisSubscription, None] = {}
        self.joining = 0
        # The link it is subscribed through (None while its slot has no known owner).
        self.link: Link[ChannelState] | None = None
        # The connection generation in which Redis confirmed our SUBSCRIBE.
        self.confirmed_in = -1
        self.confirmed = asyncio.Event()
        # A position every later entry is guaranteed to reach us above, for
        # the current generation; None until a head read or a message.
        self.head: IdKey | None = None
        self.head_task: asyncio.Task[None] | None = None
        # Its listeners may have missed entries and await CONNECTED + reset.
        self.needs_reset = False
        # Why Redis refused our SUBSCRIBE for good (NOAUTH, an ACL), until it confirms one.
        self.refused: BaseException | None = None

    @property
    def in_use(self) -> bool:
        return bool(self.listeners) or self.joining > 0

    @property
    def live(self) -> bool:
        """Redis confirmed our SUBSCRIBE on the link's current connection.

        Only then does every later append reach us, so only then is a head
        read worth anything. Before the first connection both generations
        are -1: ``connected`` tells that apart.
        """
        link = self.link
        return link is not None and link.connected and self.confirmed_in == link.generation


RedisSubscription = Attachment[ChannelState]
"""A listener attached to one channel of the hub (what ``RedisBackend.subscribe`` returns)."""


def notify(subscription: RedisSubscription, status: BackendStatus, error: BaseException | None) -> None:
    listener = subscription.listener
    if listener is None:
        return
    try:
        listener.on_status(status, error)
        if status is BackendStatus.CONNECTED:
            listener.on_reset()
    except Exception:
        logger.exception("tidings: live listener failed on status %s", status.value)


def forget_head_task(state: ChannelState) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if state.head_task is task:
            state.head_task = None
        if not task.cancelled():
            task.exception()  # retrieved here; the joiners awaiting it re-raise it

    return done
