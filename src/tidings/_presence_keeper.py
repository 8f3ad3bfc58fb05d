"""``PresenceKeeper``: one Realtime's presence connections, their heartbeats and the sweeper.

Backends give atomic steps (enter, leave, refresh, sweep); the keeper runs
the clock around them, written once for every backend:

* every ``interval`` (a third of the TTL) it refreshes *all* of this
  Realtime's connections in one backend call (one round trip per Redis node,
  whatever the number of members), re-entering any the backend had already
  expired (this process was cut off for longer than the TTL: its members
  left, and now join again);
* in the same tick it sweeps: removes every connection, of any process, whose
  TTL ran out, and emits one leave per member whose last connection that was.
  Every process sweeps; the backend makes each removal happen once.

The task starts with the first presence call and never spins: each round
sleeps first, and a failing backend is logged and retried next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._backend import Backend, Retention
from ._exceptions import ClosedError, InvalidArgumentError
from ._limits import Limits
from ._presence import Member, Membership, decode_member, encode_member, new_connection_id, presence_channel

if TYPE_CHECKING:
    from ._realtime import Realtime

logger = logging.getLogger("tidings.presence")


class PresenceKeeper:
    def __init__(
        self,
        realtime: Realtime,
        use_backend: Callable[[], Awaitable[Backend]],
        limits: Limits,
        *,
        ttl: float,
        retention: Retention,
    ) -> None:
        self._realtime = realtime
        self._use_backend = use_backend
        self._limits = limits
        self.ttl = ttl
        self._ttl_ms = max(1, int(ttl * 1000))
        self.interval = ttl / 3
        self._retention = retention
        # channel -> connection id -> (client id, member JSON) for this Realtime's connections.
        self._local: dict[str, dict[str, tuple[str, bytes]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._halted = False

    @property
    def retention(self) -> Retention:
        return self._retention

    # -- the API behind Channel ---------------------------------------------------------

    async def enter(self, channel: str, client_id: str, info: Any) -> Membership:
        presence_channel(channel)  # refuses a presence channel: nobody is present on one
        limits = self._limits
        member = encode_member(
            client_id,
            info,
            max_info_bytes=limits.max_presence_info_bytes,
            max_client_id_length=limits.max_presence_client_id_length,
        )
        backend = await self._use_backend()
        self._start()
        connection_id = new_connection_id()
        # Heartbeated only once entered. A call that fails after the backend
        # ran it (its outcome unknown) leaves a connection nobody refreshes:
        # it expires after the TTL, a join followed by a leave.
        await backend.presence_enter(
            channel, client_id, connection_id, member, ttl_ms=self._ttl_ms, retention=self._retention
        )
        self._local.setdefault(channel, {})[connection_id] = (client_id, member)
        return Membership(self._realtime, channel, client_id, connection_id)

    async def leave(self, channel: str, connection_ids: list[str]) -> None:
        self._forget(channel, connection_ids)
        if connection_ids:
            backend = await self._use_backend()
            await backend.presence_leave(channel, connection_ids, retention=self._retention)

    def abandon(self, channel: str, connection_ids: list[str]) -> None:
        """Stop heartbeating these connections without leaving: they expire after the TTL.

        For a server shutting down: its streams reconnect elsewhere within
        the TTL, so their members never leave (no leave-and-join noise).
        """
        self._forget(channel, connection_ids)

    async def leave_client(self, channel: str, client_id: str) -> None:
        """End every connection this Realtime entered for ``client_id`` on ``channel``."""
        mine = self._local.get(channel, {})
        await self.leave(channel, [conn for conn, (owner, _) in mine.items() if owner == client_id])

    async def members(self, channel: str, limit: int | None) -> list[Member]:
        presence_channel(channel)
        cap = self._limits.max_presence_members
        if limit is None:
            limit = cap
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= cap:
            raise InvalidArgumentError(
                "limit", f"must be an int from 1 to {cap} (Limits.max_presence_members), got {limit!r}"
            )
        backend = await self._use_backend()
        self._start()
        raw = await backend.presence_members(channel, limit=limit)
        members = [decode_member(item) for item in raw]
        members.sort(key=lambda member: (member.since, member.client_id))
        return members

    async def count(self, channel: str) -> int:
        presence_channel(channel)
        backend = await self._use_backend()
        self._start()
        return await backend.presence_count(channel)

    # -- the clock --------------------------------------------------------------------------

    def _start(self) -> None:
        if self._halted:
            return
        loop = asyncio.get_running_loop()
        if self._task is not None and (self._task.done() or self._task.get_loop() is not loop):
            # The Realtime moved on from the loop that ran it (a finished asyncio.run).
            self._task = None
        if self._task is None:
            self._task = loop.create_task(self._run(), name="tidings-presence")

    async def _run(self) -> None:
        # Every exit checks ``cancelling()``: a cancellation can reach the
        # keeper while the Redis client reads a reply, which the client turns
        # into a connection error and the router into a retry, so it never
        # surfaces here as CancelledError. The task must end all the same.
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except ClosedError:
                return
            except Exception:  # the backend is down: the next round tries again
                if not task.cancelling():
                    logger.warning("presence heartbeat or sweep failed; retrying", exc_info=True)

    async def tick(self) -> None:
        """One round: refresh this Realtime's connections, re-enter lost ones, sweep."""
        backend = await self._use_backend()
        local = {channel: list(conns) for channel, conns in self._local.items() if conns}
        if local:
            missing = await backend.presence_refresh(local, ttl_ms=self._ttl_ms)
            for channel, connection_ids in missing.items():
                for connection_id in connection_ids:
                    held = self._local.get(channel, {}).get(connection_id)
                    if held is not None:
                        await backend.presence_enter(
                            channel,
                            held[0],
                            connection_id,
                            held[1],
                            ttl_ms=self._ttl_ms,
                            retention=self._retention,
                        )
        await backend.presence_sweep(retention=self._retention)

    def halt(self) -> None:
        """Stop heartbeats and sweeps without leaving: what a crashed process does.

        Its connections expire after the TTL and another process sweeps them.
        For tests of crash recovery on backends that cannot be shared across
        processes (the memory backend).
        """
        self._halted = True
        self._local.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        """Leave every connection this Realtime holds (a clean shutdown is not a crash)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        local, self._local = self._local, {}
        for channel, conns in local.items():
            if conns:
                try:
                    # The backend itself: the Realtime is already marked closed.
                    await self._realtime.backend.presence_leave(
                        channel, list(conns), retention=self._retention
                    )
                except Exception:  # unreachable: the TTL removes them instead
                    logger.warning("could not leave presence of channel %r on close", channel, exc_info=True)

    def _forget(self, channel: str, connection_ids: list[str]) -> None:
        conns = self._local.get(channel)
        if conns is None:
            return
        for connection_id in connection_ids:
            conns.pop(connection_id, None)
        if not conns:
            del self._local[channel]
