"""The contract between ``Realtime`` and a storage backend.

A backend stores each channel's events as an append-only log ordered by id and
feeds appended events to live listeners. Everything above it -- validation,
replay-then-live, slow-consumer handling, gap detection -- is done once, in
the core, on top of these few guarantees. A new backend passes
``tests/contract`` to prove it keeps them.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ._ids import IdKey

PING_CHANNEL = "tidings-ping"


@dataclass(slots=True)
class Entry:
    """One stored event, as the backend holds it: data stays JSON text until delivery.

    Treat it as immutable: one Entry is shared by every subscriber of its
    event. Not ``frozen`` only because a frozen dataclass is four times
    slower to build, and an Entry is built per event of every read.
    """

    id: str
    key: IdKey
    event: str
    channel: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Retention:
    """How much history a channel keeps.

    max_length: keep at most this many newest events (exact trim, never approximate).
    expire_after_secs: drop the channel's history this long after its last append.
    ``None`` means no such bound.
    """

    max_length: int | None = None
    expire_after_secs: int | None = None


class BackendStatus(enum.Enum):
    """What a live listener is told about the backend's live feed."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class LiveListener(Protocol):
    """Receives a channel's live feed. Called on the backend's event loop.

    None of these methods may block or await: they run inside the backend's
    reader and must hand the work off (the core puts entries in a bounded queue).
    """

    def on_entries(self, entries: Sequence[Entry]) -> None:
        """New entries of the channel, in increasing id order, each exactly once."""

    def on_reset(self) -> None:
        """The live feed was interrupted and is live again; entries may have been missed.

        Called after the feed is restored, so anything appended from now on
        reaches ``on_entries``; the listener catches up from history (``after``).
        """

    def on_status(self, status: BackendStatus, error: BaseException | None) -> None:
        """The feed went down (``DISCONNECTED``, with the cause) or came back."""


class LiveSubscription(Protocol):
    """A listener's attachment to one channel's live feed."""

    @property
    def head(self) -> IdKey:
        """A position such that every entry with a greater id reaches the listener.

        The id of the newest entry the backend knew of when the feed attached
        (``(0, 0)`` for an empty channel). Entries at or below it are history.
        """

    async def close(self) -> None:
        """Detach the listener. Idempotent. No call reaches the listener afterwards."""


K = TypeVar("K")


class ListenerOwner(Protocol[K]):
    """Where an ``Attachment`` is registered: told once when it closes."""

    def detach_listener(self, key: K, attachment: Attachment[K]) -> None: ...


class Attachment(Generic[K]):
    """A ready-made ``LiveSubscription``: holds the listener until closed.

    ``listener`` becomes None at ``close()``; a backend checks it before each
    call, so nothing reaches a listener after it detached, even mid-fan-out.
    ``key`` is whatever the owner files the attachment under (a channel name,
    a channel's state).
    """

    __slots__ = ("_head", "_key", "_owner", "listener")

    def __init__(self, owner: ListenerOwner[K], key: K, listener: LiveListener, head: IdKey) -> None:
        self._owner = owner
        self._key = key
        self._head = head
        self.listener: LiveListener | None = listener

    @property
    def head(self) -> IdKey:
        return self._head

    async def close(self) -> None:
        if self.listener is not None:
            self.listener = None
            self._owner.detach_listener(self._key, self)


class Backend(abc.ABC):
    """Storage and live fan-out for channels of events.

    Guarantees every implementation gives:

    * **Ordering**: per channel, ids strictly increase in append order
      (``"<ms>-<seq>"``, compared as integer pairs), and reads and the live
      feed present entries in that order.
    * **Atomicity**: ``append`` stores all its records or none; an entry is
      visible to reads no later than it reaches any live listener, and a
      returned id is durable as far as the backend itself is.
    * **Live delivery**: after ``subscribe`` returns, every entry appended with
      an id above ``head`` reaches the listener exactly once, unless the
      backend calls ``on_reset`` (then the listener catches up from history).
    * **Gap honesty**: ``after`` raises ``CursorExpiredError`` instead of
      silently skipping entries that retention already removed.
    * **Presence** (``presence_*``, see ``tidings._presence``): a channel's
      members and their connections change together with the join/leave
      event appended to the channel's presence channel, in one atomic step;
      a member joins when its first connection enters and leaves when its
      last one is left or expires, so however many processes leave, refresh
      or sweep at once, each join and each leave is appended exactly once.
    """

    @abc.abstractmethod
    async def append(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        """Store ``(event, json_payload)`` records atomically; return their new ids.

        Also trims to ``retention.max_length`` and refreshes expiry, in the
        same atomic step, then feeds the entries to live listeners.
        """

    @abc.abstractmethod
    async def latest(
        self, channel: str, *, start: IdKey | None, end: IdKey | None, limit: int
    ) -> list[Entry]:
        """The newest ``limit`` entries with ``start <= id <= end``, oldest first."""

    @abc.abstractmethod
    async def after(
        self, channel: str, cursor: IdKey, *, limit: int, end: IdKey | None = None
    ) -> list[Entry]:
        """The oldest ``limit`` entries with ``cursor < id <= end``, oldest first.

        Raises ``CursorExpiredError`` when retention removed any entry with an
        id above ``cursor``: the caller would otherwise miss it silently.
        """

    @abc.abstractmethod
    async def subscribe(self, channel: str, listener: LiveListener) -> LiveSubscription:
        """Attach ``listener`` to the channel's live feed; return once it is live."""

    async def ping(self) -> None:
        """One cheap round trip to the storage, for readiness checks.

        Returns if the backend answers; raises ``BackendError`` (or
        ``ClosedError`` once closed) naming what did not. The caller bounds
        the wait (``asyncio.timeout``). The default reads one entry of a
        probe channel; a backend with a cheaper check (Redis: ``PING`` every
        primary it uses) overrides it.
        """
        await self.latest(PING_CHANNEL, start=None, end=None, limit=1)

    # -- presence ------------------------------------------------------------------
    # ``channel`` is the channel members are on; join and leave events go to
    # ``presence_channel(channel)`` with ``retention``. ``member`` is the
    # member's JSON (``{client_id, info, since}``), the data of both events.

    @abc.abstractmethod
    async def presence_enter(
        self,
        channel: str,
        client_id: str,
        connection_id: str,
        member: bytes,
        *,
        ttl_ms: int,
        retention: Retention,
    ) -> str | None:
        """Add a connection that expires ``ttl_ms`` from now unless refreshed.

        Appends a ``presence.join`` (returning its id) if it is the client's
        first live connection; None otherwise. Entering an existing connection
        id again only refreshes it.
        """

    @abc.abstractmethod
    async def presence_leave(
        self, channel: str, connection_ids: Sequence[str], *, retention: Retention
    ) -> list[str]:
        """Remove these connections (ignoring unknown ones); the ids of the leaves appended."""

    @abc.abstractmethod
    async def presence_refresh(
        self, connections: Mapping[str, Sequence[str]], *, ttl_ms: int
    ) -> dict[str, list[str]]:
        """Extend the given connections (channel -> ids) to ``ttl_ms`` from now, in one round trip
        per server; returns those that no longer exist (expired and swept), by channel."""

    @abc.abstractmethod
    async def presence_sweep(self, *, retention: Retention) -> int:
        """Remove every expired connection of every channel; how many leaves were appended."""

    @abc.abstractmethod
    async def presence_members(self, channel: str, *, limit: int) -> list[bytes]:
        """The JSON of up to ``limit`` current members, in no particular order."""

    @abc.abstractmethod
    async def presence_count(self, channel: str) -> int:
        """How many members the channel has (cheap: no member is read)."""

    @abc.abstractmethod
    def live_listener_count(self) -> int:
        """How many listeners are attached in this process (for leak checks and metrics)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and detach every listener. Idempotent."""
