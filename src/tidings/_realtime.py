"""``Realtime``: the schema, the backend, and the entry point to channels."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._backend import Backend, Entry, Retention
from ._backend_url import backend_from_url
from ._channel import Channel
from ._checks import positive_int_or_none, positive_seconds
from ._counters import COUNTERS
from ._delivery import Subscription, _Consumer
from ._exceptions import (
    ClosedError,
    InvalidArgumentError,
    InvalidChannelError,
    PayloadTooLargeError,
    UsageError,
    WrongEventLoopError,
)
from ._feed import Feed
from ._limits import Limits
from ._memory import MemoryBackend
from ._message import Message
from ._options import check_cursor, subscribe_history
from ._presence import is_presence_channel
from ._presence_keeper import PresenceKeeper
from ._schema import Schema

if TYPE_CHECKING:
    from ._sync import SyncRealtime

DEFAULT_CHANNEL = "default"

DEFAULT_PRESENCE_RETENTION = Retention(max_length=1000, expire_after_secs=3600)
"""Presence channels keep their newest 1000 joins/leaves, for an hour after the last one."""


class Realtime:
    """Typed realtime events on named channels.

    ``schema`` maps event names to types, nested by dots: ``{"job": {"progress":
    Progress}}`` declares ``"job.progress"``. Without a schema any event name
    and any JSON data are accepted.

    The backend is the embedded in-memory one unless ``redis="redis://..."``
    (needs ``tidings[redis]``) or an explicit ``backend=`` is given.

    History retention: ``max_length`` keeps at most that many events per
    channel (exact trim); ``expire_after_secs`` drops a channel's history that
    long after its last emit. ``limits`` bounds payload size, name lengths,
    history reads and subscriber queues (see ``Limits``).

    Presence (``channel.enter()``, ``channel.presence()``; docs/presence.md):
    a connection expires ``presence_ttl`` seconds (default 30) after its last
    heartbeat; heartbeats go every third of that. Join and leave events are
    kept on each presence channel with ``presence_retention`` (default: the
    newest 1000, for an hour).

    A ``Realtime`` belongs to the event loop that first uses it with
    ``await``. Code without an event loop (Flask, Django views, Celery tasks)
    uses ``realtime.sync``, in any order with async code: sync calls made
    before any async use borrow a private loop, which hands the ``Realtime``
    over to the first loop that awaits it.
    """

    def __init__(
        self,
        schema: Mapping[str, Any] | None = None,
        *,
        backend: Backend | None = None,
        redis: str | None = None,
        max_length: int | None = None,
        expire_after_secs: int | None = None,
        limits: Limits | None = None,
        presence_ttl: float = 30.0,
        presence_retention: Retention = DEFAULT_PRESENCE_RETENTION,
    ) -> None:
        self._schema = Schema(schema)
        self._limits = limits if limits is not None else Limits()
        if not isinstance(self._limits, Limits):
            raise InvalidArgumentError("limits", f"must be a tidings.Limits, got {limits!r}")
        self._retention = Retention(
            max_length=positive_int_or_none("max_length", max_length),
            expire_after_secs=positive_int_or_none("expire_after_secs", expire_after_secs),
        )
        if backend is not None and redis is not None:
            raise InvalidArgumentError("redis", "give either backend= or redis=, not both")
        if backend is not None and not isinstance(backend, Backend):
            raise InvalidArgumentError("backend", f"must be a tidings Backend, got {backend!r}")
        # A backend passed in belongs to the caller, who closes it; one made
        # here is closed by aclose().
        self._owns_backend = backend is None
        if backend is None:
            backend = backend_from_url(redis) if redis is not None else MemoryBackend()
        self._backend: Backend = backend
        COUNTERS.backends.add(backend)
        self._consumers: set[_Consumer] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set while the sync facade's private loop hands this Realtime over (see _sync).
        self._handover: asyncio.Future[None] | None = None
        self._closed = False
        self._sync: SyncRealtime | None = None
        if not isinstance(presence_retention, Retention):
            raise InvalidArgumentError(
                "presence_retention", f"must be a tidings.Retention, got {presence_retention!r}"
            )
        self._presence = PresenceKeeper(
            self,
            self._use_backend,
            self._limits,
            ttl=positive_seconds("presence_ttl", presence_ttl),
            retention=presence_retention,
        )

    # -- public surface ---------------------------------------------------------

    @property
    def schema(self) -> Schema:
        return self._schema

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def retention(self) -> Retention:
        return self._retention

    @property
    def presence_ttl(self) -> float:
        """Seconds a presence connection lives past its last heartbeat."""
        return self._presence.ttl

    @property
    def backend(self) -> Backend:
        return self._backend

    def channel(self, name: str) -> Channel:
        """A handle on channel ``name`` (validated now: a bad name fails here)."""
        return Channel(self, self._limits.check_channel(name))

    async def emit(self, event: str, data: Any) -> str:
        """Emit to the ``"default"`` channel; returns the new event's id."""
        ids = await self._append(DEFAULT_CHANNEL, [(event, data)])
        return ids[0]

    async def history(self, **options: Any) -> list[Message]:
        """History of the ``"default"`` channel (same options as ``Channel.history``)."""
        return await self.channel(DEFAULT_CHANNEL).history(**options)

    @property
    def sync(self) -> SyncRealtime:
        """The blocking facade for code without an event loop (created on first use)."""
        if self._sync is None:
            from ._sync import SyncRealtime

            self._sync = SyncRealtime(self)
        return self._sync

    async def aclose(self) -> None:
        """End every subscription and close the backend if this Realtime made it. Idempotent."""
        if self._closed:
            return
        await self._presence.aclose()
        self._closed = True
        for consumer in list(self._consumers):
            if isinstance(consumer, Subscription):
                await consumer._abort()
            else:
                await consumer._close_feed()
        self._consumers.clear()
        if self._owns_backend:
            await self._backend.aclose()

    async def __aenter__(self) -> Realtime:
        await self._use_backend()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def close(self) -> None:
        """Blocking close, for code that used ``realtime.sync``."""
        if self._sync is not None:
            self._sync.close()

    # -- for Channel --------------------------------------------------------------

    async def _use_backend(self) -> Backend:
        """The backend, after checking this Realtime is open and on its own loop."""
        if not self._closed and (self._loop is not asyncio.get_running_loop() or self._handover is not None):
            await self._bind()
        if self._closed:
            raise ClosedError("this Realtime was closed; create a new one")
        return self._backend

    async def _bind(self) -> None:
        """Bind to the running loop, or wait until this Realtime has moved to it."""
        loop = asyncio.get_running_loop()
        handover = self._handover
        if self._loop is loop and handover is not None:
            # Shielded: one caller giving up must not cancel the move for the others.
            await asyncio.shield(handover)
            self._handover = None
            return
        previous = self._loop
        if previous is None or previous.is_closed():
            # First use, or the loop that first used us is gone (a finished
            # asyncio.run): nothing can still depend on it, so move to this one.
            self._loop = loop
            return
        if self._sync is not None:
            # Only the sync facade's private loop held us: take over from it.
            def move() -> None:
                self._loop = loop

            stopped = self._sync.hand_over(previous, move)
            if stopped is not None:
                handover = self._handover = asyncio.wrap_future(stopped)
                await asyncio.shield(handover)
                self._handover = None
                return
        raise WrongEventLoopError(
            "this Realtime is bound to another event loop; create one Realtime "
            "per event loop, or use realtime.sync from threads without a loop"
        )

    def _encode(self, event: str, data: Any) -> bytes:
        if self._schema.is_open:
            self._limits.check_event_name(event)
        elif not isinstance(event, str):
            raise InvalidArgumentError("event", f"must be a str, got {type(event).__name__}")
        payload = self._schema.encode(event, data)
        if len(payload) > self._limits.max_payload_bytes:
            raise PayloadTooLargeError(event, len(payload), self._limits.max_payload_bytes)
        return payload

    async def _append(self, channel: str, items: Sequence[tuple[str, Any]]) -> list[str]:
        # ``channel`` was validated when its Channel handle was made.
        started = perf_counter()
        try:
            if is_presence_channel(channel):
                raise InvalidChannelError(
                    channel,
                    "is a presence channel: only enter()/leave() write its "
                    "presence.join/presence.leave events",
                )
            if len(items) > self._limits.max_batch:
                raise InvalidArgumentError(
                    "events",
                    f"{len(items)} events in one batch; the limit is {self._limits.max_batch} "
                    "(Limits.max_batch)",
                )
            # Everything is validated before the backend sees anything: a bad item
            # means nothing of the batch is stored.
            records = [(event, self._encode(event, data)) for event, data in items]
            backend = await self._use_backend()
            ids = await backend.append(channel, records, self._retention)
        except Exception as exc:
            COUNTERS.emit_failed(exc)
            raise
        # Timed per call, not per event: one emit_many is one round trip.
        COUNTERS.emitted(len(ids), perf_counter() - started)
        return ids

    async def _open_feed(
        self,
        channel: str,
        events: Iterable[str] | None,
        history: object,
        after: str | None,
    ) -> Feed:
        wanted = self._schema.check_events(events)
        replay = subscribe_history(history, self._limits.history_limit)
        cursor = check_cursor(after)
        if replay is not None and cursor is not None:
            raise UsageError("give either history= or after=, not both")
        feed = Feed(
            await self._use_backend(),
            channel,
            events=wanted,
            capacity=self._limits.subscriber_queue,
            page_size=self._limits.history_limit,
        )
        await feed.start(after=cursor, history=replay)
        return feed

    def _decode(self, entry: Entry) -> Message:
        return self._schema.message(entry)
