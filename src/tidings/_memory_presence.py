"""Presence state of the memory backend: members and connections per channel, in-process.

Every step runs synchronously on the event loop up to the append of its
event, so a membership change and its join/leave are one atomic step, as
the Lua scripts make them on Redis.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ._backend import Retention
from ._presence import JOIN_EVENT, LEAVE_EVENT, presence_channel

Append = Callable[[str, Sequence[tuple[str, bytes]], Retention], Awaitable[list[str]]]


class _Room:
    __slots__ = ("connections", "counts", "members")

    def __init__(self) -> None:
        self.members: dict[str, bytes] = {}  # client id -> member JSON
        self.counts: dict[str, int] = {}  # client id -> live connections
        self.connections: dict[str, tuple[str, float]] = {}  # connection id -> (client id, expiry)


class MemoryPresence:
    def __init__(self, append: Append, clock: Callable[[], float] = time.monotonic) -> None:
        self._append = append
        self._clock = clock
        self._rooms: dict[str, _Room] = {}

    async def enter(
        self,
        channel: str,
        client_id: str,
        connection_id: str,
        member: bytes,
        *,
        ttl_ms: int,
        retention: Retention,
    ) -> str | None:
        room = self._rooms.setdefault(channel, _Room())
        expiry = self._clock() + ttl_ms / 1000
        held = room.connections.get(connection_id)
        if held is not None:
            room.connections[connection_id] = (held[0], expiry)
            return None
        room.connections[connection_id] = (client_id, expiry)
        room.counts[client_id] = room.counts.get(client_id, 0) + 1
        if room.counts[client_id] > 1:
            return None
        room.members[client_id] = member
        ids = await self._append(presence_channel(channel), [(JOIN_EVENT, member)], retention)
        return ids[0]

    async def leave(self, channel: str, connection_ids: Sequence[str], *, retention: Retention) -> list[str]:
        room = self._rooms.get(channel)
        if room is None:
            return []
        leaves = [self._remove(room, connection_id) for connection_id in connection_ids]
        return await self._emit_leaves(
            channel, room, [leave for leave in leaves if leave is not None], retention
        )

    async def refresh(self, connections: Mapping[str, Sequence[str]], *, ttl_ms: int) -> dict[str, list[str]]:
        expiry = self._clock() + ttl_ms / 1000
        missing: dict[str, list[str]] = {}
        for channel, connection_ids in connections.items():
            room = self._rooms.get(channel)
            for connection_id in connection_ids:
                held = None if room is None else room.connections.get(connection_id)
                if room is None or held is None:
                    missing.setdefault(channel, []).append(connection_id)
                else:
                    room.connections[connection_id] = (held[0], expiry)
        return missing

    async def sweep(self, *, retention: Retention) -> int:
        now = self._clock()
        emitted = 0
        for channel, room in list(self._rooms.items()):
            expired = [conn for conn, (_, expiry) in room.connections.items() if expiry <= now]
            leaves = [self._remove(room, connection_id) for connection_id in expired]
            ids = await self._emit_leaves(channel, room, [leave for leave in leaves if leave], retention)
            emitted += len(ids)
        return emitted

    def members(self, channel: str, limit: int) -> list[bytes]:
        room = self._rooms.get(channel)
        return [] if room is None else list(room.members.values())[:limit]

    def count(self, channel: str) -> int:
        room = self._rooms.get(channel)
        return 0 if room is None else len(room.members)

    def _remove(self, room: _Room, connection_id: str) -> bytes | None:
        """Drop a connection; the member's JSON if it was its last one."""
        held = room.connections.pop(connection_id, None)
        if held is None:
            return None
        client_id = held[0]
        room.counts[client_id] -= 1
        if room.counts[client_id] > 0:
            return None
        del room.counts[client_id]
        return room.members.pop(client_id)

    async def _emit_leaves(
        self, channel: str, room: _Room, members: list[bytes], retention: Retention
    ) -> list[str]:
        if not room.connections:
            del self._rooms[channel]
        if not members:
            return []
        return await self._append(presence_channel(channel), [(LEAVE_EVENT, m) for m in members], retention)
