"""The embedded default backend: history and fan-out inside one process."""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from ._backend import Attachment, Backend, Entry, LiveListener, LiveSubscription, Retention
from ._exceptions import ClosedError, CursorExpiredError
from ._ids import MAX_KEY, MIN_KEY, IdClock, IdKey, format_id, now_ms
from ._memory_presence import MemoryPresence

_SWEEP_INTERVAL_SECS = 1.0


class _ChannelLog:
    __slots__ = ("clock", "entries", "keys", "listeners", "removed_up_to", "touched_at")

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = IdClock(clock=clock)
        # ``keys`` mirrors ``entries`` so range reads can bisect. Empty tuples
        # until the first append: a channel that is only listened to (a user's
        # own channel on a page) would otherwise carry two empty deques, ~1.5 KB.
        self.entries: deque[Entry] | tuple[()] = ()
        self.keys: deque[IdKey] | tuple[()] = ()
        self.listeners: list[Attachment[str]] = []
        # Largest id retention ever removed: resuming below it would skip events.
        self.removed_up_to: IdKey = MIN_KEY
        self.touched_at = time.monotonic()

    def head(self) -> IdKey:
        return self.keys[-1] if self.keys else self.clock.last

    def add(self, fresh: list[Entry]) -> None:
        if not isinstance(self.entries, deque) or not isinstance(self.keys, deque):
            self.entries, self.keys = deque(), deque()
        self.entries.extend(fresh)
        self.keys.extend(entry.key for entry in fresh)

    def drop_oldest(self, count: int) -> None:
        entries, keys = self.entries, self.keys
        if not isinstance(entries, deque) or not isinstance(keys, deque):
            return  # nothing stored
        for _ in range(count):
            entries.popleft()
            self.removed_up_to = keys.popleft()

    def expire(self) -> None:
        if self.keys:
            self.removed_up_to = self.keys[-1]
        self.entries = ()
        self.keys = ()


class MemoryBackend(Backend):
    """Keeps every channel in process memory; nothing survives a restart.

    Appends, reads and fan-out happen synchronously on the caller's event
    loop, so ordering and atomicity come for free. ``max_channel_length`` caps
    each channel's history even when a ``Realtime`` sets no ``max_length``, so
    a long-running process never grows without bound (``None`` lifts the cap).
    """

    def __init__(
        self,
        *,
        max_channel_length: int | None = 100_000,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._channels: dict[str, _ChannelLog] = {}
        self._max_channel_length = max_channel_length
        self._clock = clock
        self._closed = False
        self._expiries: dict[str, float] = {}
        self._next_sweep = time.monotonic() + _SWEEP_INTERVAL_SECS
        self._presence = MemoryPresence(self.append)

    async def append(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        self._check_open()
        log = self._log(channel, create=True)
        assert log is not None
        fresh: list[Entry] = []
        for event, payload in records:
            key = log.clock.next()
            fresh.append(Entry(format_id(key), key, event, channel, payload))
        log.add(fresh)
        self._trim(log, retention)
        log.touched_at = time.monotonic()
        if retention.expire_after_secs is not None:
            self._expiries[channel] = log.touched_at + retention.expire_after_secs
        else:
            self._expiries.pop(channel, None)
        for subscription in list(log.listeners):
            if subscription.listener is not None:
                subscription.listener.on_entries(fresh)
        self._maybe_sweep()
        return [entry.id for entry in fresh]

    async def ping(self) -> None:
        """Always ready while open: the events are in this process."""
        self._check_open()

    async def latest(
        self, channel: str, *, start: IdKey | None, end: IdKey | None, limit: int
    ) -> list[Entry]:
        self._check_open()
        log = self._log(channel)
        if log is None:
            return []
        low = bisect.bisect_left(log.keys, start or MIN_KEY)
        high = bisect.bisect_right(log.keys, end or MAX_KEY)
        low = max(low, high - limit)
        return [log.entries[index] for index in range(low, high)]

    async def after(
        self, channel: str, cursor: IdKey, *, limit: int, end: IdKey | None = None
    ) -> list[Entry]:
        self._check_open()
        log = self._log(channel)
        if log is None:
            return []
        if cursor < log.removed_up_to:
            oldest = format_id(log.keys[0]) if log.keys else None
            raise CursorExpiredError(channel, format_id(cursor), oldest, format_id(log.removed_up_to))
        low = bisect.bisect_right(log.keys, cursor)
        high = min(bisect.bisect_right(log.keys, end or MAX_KEY), low + limit)
        return [log.entries[index] for index in range(low, high)]

    async def subscribe(self, channel: str, listener: LiveListener) -> LiveSubscription:
        self._check_open()
        log = self._log(channel, create=True)
        assert log is not None
        subscription = Attachment(self, channel, listener, log.head())
        log.listeners.append(subscription)
        return subscription

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
        self._check_open()
        return await self._presence.enter(
            channel, client_id, connection_id, member, ttl_ms=ttl_ms, retention=retention
        )

    async def presence_leave(
        self, channel: str, connection_ids: Sequence[str], *, retention: Retention
    ) -> list[str]:
        self._check_open()
        return await self._presence.leave(channel, connection_ids, retention=retention)

    async def presence_refresh(
        self, connections: Mapping[str, Sequence[str]], *, ttl_ms: int
    ) -> dict[str, list[str]]:
        self._check_open()
        return await self._presence.refresh(connections, ttl_ms=ttl_ms)

    async def presence_sweep(self, *, retention: Retention) -> int:
        self._check_open()
        return await self._presence.sweep(retention=retention)

    async def presence_members(self, channel: str, *, limit: int) -> list[bytes]:
        self._check_open()
        return self._presence.members(channel, limit)

    async def presence_count(self, channel: str) -> int:
        self._check_open()
        return self._presence.count(channel)

    def live_listener_count(self) -> int:
        return sum(len(log.listeners) for log in self._channels.values())

    def channel_count(self) -> int:
        return len(self._channels)

    async def aclose(self) -> None:
        self._closed = True
        for log in self._channels.values():
            for subscription in log.listeners:
                subscription.listener = None
            log.listeners.clear()
        self._channels.clear()

    def detach_listener(self, channel: str, subscription: Attachment[str]) -> None:
        log = self._channels.get(channel)
        if log is None:
            return
        try:
            log.listeners.remove(subscription)
        except ValueError:
            return
        if not log.listeners and not log.entries and channel not in self._expiries:
            # A channel that was only ever listened to leaves nothing behind.
            del self._channels[channel]

    def _log(self, channel: str, *, create: bool = False) -> _ChannelLog | None:
        log = self._channels.get(channel)
        if log is not None:
            deadline = self._expiries.get(channel)
            if deadline is not None and time.monotonic() >= deadline:
                self._expire(channel, log)
                log = self._channels.get(channel)
        if log is None and create:
            log = self._channels[channel] = _ChannelLog(self._clock)
        return log

    def _expire(self, channel: str, log: _ChannelLog) -> None:
        del self._expiries[channel]
        log.expire()
        if not log.listeners:
            del self._channels[channel]

    def _trim(self, log: _ChannelLog, retention: Retention) -> None:
        bounds = [b for b in (retention.max_length, self._max_channel_length) if b is not None]
        if bounds:
            excess = len(log.entries) - min(bounds)
            if excess > 0:
                log.drop_oldest(excess)

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep or not self._expiries:
            return
        self._next_sweep = now + _SWEEP_INTERVAL_SECS
        for channel, deadline in list(self._expiries.items()):
            if now >= deadline:
                self._expire(channel, self._channels[channel])

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this MemoryBackend was closed")
