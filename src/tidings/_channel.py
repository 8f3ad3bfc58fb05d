"""A handle on one named channel: emit, subscribe, history, stream."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._counters import COUNTERS
from ._delivery import DataHandler, ErrorHandler, Stream, Subscription, _Consumer
from ._exceptions import InvalidArgumentError
from ._message import Message
from ._options import check_cursor, history_query
from ._presence import Entering, Member, presence_channel

if TYPE_CHECKING:
    from ._realtime import Realtime


class Channel:
    """One channel of a ``Realtime``. Cheap to create: ``realtime.channel(name)``.

    Each handle remembers the subscriptions made through it, so
    ``channel.unsubscribe()`` ends exactly those.
    """

    __slots__ = ("_consumers", "_name", "_realtime")

    def __init__(self, realtime: Realtime, name: str) -> None:
        self._realtime = realtime
        self._name = name
        self._consumers: set[_Consumer] = set()

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"Channel({self._name!r})"

    async def emit(self, event: str, data: Any) -> str:
        """Validate ``data`` for ``event``, store it, deliver it live; return its id."""
        ids = await self._realtime._append(self._name, [(event, data)])
        return ids[0]

    async def emit_many(self, events: Iterable[tuple[str, Any]]) -> list[str]:
        """Emit several ``(event, data)`` pairs atomically, in order, in one backend call.

        Every item is validated first: one bad item rejects the whole batch and
        nothing is stored.
        """
        items = list(events)
        for index, item in enumerate(items):
            if not isinstance(item, tuple) or len(item) != 2:
                raise InvalidArgumentError(f"events[{index}]", "must be an (event, data) tuple")
        if not items:
            return []
        return await self._realtime._append(self._name, items)

    async def history(
        self,
        *,
        limit: int | None = None,
        start: int | None = None,
        end: int | None = None,
        after: str | None = None,
    ) -> list[Message]:
        """Stored events, oldest first.

        Without ``after``: the newest ``limit`` events stored between ``start``
        and ``end`` (Unix ms, both inclusive). With ``after`` (an event id):
        the oldest ``limit`` events after it, to page forward; raises
        ``CursorExpiredError`` if retention already removed some of them.
        ``limit`` defaults to, and is capped at, ``Limits.history_limit`` (1000).
        """
        realtime = self._realtime
        query = history_query(
            limit=limit, start=start, end=end, after=after, cap=realtime.limits.history_limit
        )
        backend = await realtime._use_backend()
        COUNTERS.history_reads += 1
        if query.after is not None:
            entries = await backend.after(self._name, query.after, limit=query.limit, end=query.end)
        else:
            entries = await backend.latest(self._name, start=query.start, end=query.end, limit=query.limit)
        return [realtime._decode(entry) for entry in entries]

    async def subscribe(
        self,
        *,
        on_data: DataHandler,
        events: Iterable[str] | None = None,
        history: bool | dict[str, int] = False,
        after: str | None = None,
        on_error: ErrorHandler | None = None,
    ) -> Subscription:
        """Deliver this channel's events to ``on_data``; returns once delivery is live.

        ``events`` keeps only those event names (default: all). ``history=True``
        (or ``{"limit": n, "start": ms}``) first replays the newest stored
        events, oldest first, then continues live -- no gap, no duplicate.
        ``after=<id>`` replays everything after that id instead (raising
        ``CursorExpiredError`` if retention already removed part of it).
        The result is callable: ``await unsubscribe()``.
        """
        if not callable(on_data):
            raise InvalidArgumentError("on_data", f"must be callable, got {on_data!r}")
        feed = await self._realtime._open_feed(self._name, events, history, after)
        subscription = Subscription(feed, self._realtime._decode, self._forget, on_data, on_error)
        self._track(subscription)
        subscription.start()
        return subscription

    def stream(
        self,
        *,
        events: Iterable[str] | None = None,
        history: bool | dict[str, int] = False,
        after: str | None = None,
        on_error: ErrorHandler | None = None,
    ) -> StreamContext:
        """``async with channel.stream(...) as messages: async for m in messages: ...``

        Same options as ``subscribe``; the subscription ends with the block.
        """
        return StreamContext(self, events, history, after, on_error)

    async def unsubscribe(self) -> None:
        """End every subscription and stream made through this handle."""
        for consumer in list(self._consumers):
            await consumer._close_feed()

    # -- presence (docs/presence.md) ---------------------------------------------------

    @property
    def presence_channel(self) -> Channel:
        """The channel holding this channel's ``presence.join`` / ``presence.leave`` events.

        Subscribe to it (or read its history) like any channel; nobody can emit on it.
        """
        return Channel(self._realtime, presence_channel(self._name))

    def enter(self, client_id: str, info: Any = None) -> Entering:
        """Enter ``client_id`` with JSON ``info``: a new connection of that member.

        ``membership = await channel.enter(...)`` (then ``await membership.leave()``)
        or ``async with channel.enter(...):``. The member joins (a
        ``presence.join`` event) on its first connection; ``info`` and
        ``since`` are those of that first one.
        """
        return Entering(self._realtime, self._name, client_id, info)

    async def leave(self, client_id: str) -> None:
        """End every connection this Realtime entered for ``client_id`` here.

        The member leaves (a ``presence.leave`` event) if no other process
        holds a connection of it.
        """
        await self._realtime._presence.leave_client(self._name, client_id)

    async def presence(self, *, limit: int | None = None) -> list[Member]:
        """The current members, oldest ``since`` first: at most ``limit``
        (default and cap ``Limits.max_presence_members``)."""
        return await self._realtime._presence.members(self._name, limit)

    async def presence_count(self) -> int:
        """How many members the channel has now (one cheap backend call)."""
        return await self._realtime._presence.count(self._name)

    def _track(self, consumer: _Consumer) -> None:
        self._consumers.add(consumer)
        self._realtime._consumers.add(consumer)

    def _forget(self, consumer: _Consumer) -> None:
        self._consumers.discard(consumer)
        self._realtime._consumers.discard(consumer)


class StreamContext:
    """What ``channel.stream()`` returns: enter it to subscribe."""

    def __init__(
        self,
        channel: Channel,
        events: Iterable[str] | None,
        history: bool | dict[str, int],
        after: str | None,
        on_error: ErrorHandler | None,
    ) -> None:
        self._channel = channel
        self._args = (events, history, after)
        self._on_error = on_error
        self._stream: Stream | None = None
        check_cursor(after)

    async def __aenter__(self) -> Stream:
        channel = self._channel
        events, history, after = self._args
        feed = await channel._realtime._open_feed(channel.name, events, history, after)
        self._stream = Stream(feed, channel._realtime._decode, channel._forget, self._on_error)
        channel._track(self._stream)
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()
