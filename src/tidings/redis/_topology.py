"""The slot map of a Redis Cluster: which primary serves each of the 16384 slots.

Read with ``CLUSTER SLOTS`` from the first node that answers (known
primaries first, then the startup nodes), corrected on the spot by every
``-MOVED`` reply, and re-read in the background after a ``-MOVED``, a node
that cannot be reached or a sharded channel the server unsubscribed us
from. Re-reads are coalesced: callers that ask while one is running share
it, and one starts at most every ``_MIN_REFRESH_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError

from ._connections import Command
from ._errors import UNREACHABLE
from ._routing import Node, Router

logger = logging.getLogger("tidings.redis")

Address = tuple[str, int]
MakeNode = Callable[[Address], Node]

SLOTS = 16384
_CLUSTER_SLOTS: Command = ("CLUSTER", "SLOTS")
_MIN_REFRESH_INTERVAL = 0.05
_ASK_TIMEOUT = 1.0  # per node asked for the map: a dead one must not hold up the others


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_slots(reply: Sequence[Any], asked: Address) -> list[Address | None]:
    """``CLUSTER SLOTS`` as a list: slot -> primary address (None where uncovered)."""
    owners: list[Address | None] = [None] * SLOTS
    for item in reply:
        first, last, primary = int(item[0]), int(item[1]), item[2]
        host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
        if host in ("", "?"):  # the node does not know its own endpoint: the one we asked
            host = asked[0]
        address = (host, int(primary[1]))
        owners[first : last + 1] = [address] * (last - first + 1)
    return owners


class ClusterRouter(Router):
    """Routes keys by slot to the primaries of a Redis Cluster."""

    sharded = True

    def __init__(
        self, seeds: Sequence[Address], make_node: MakeNode, *, timeout: float, stats: dict[str, int]
    ) -> None:
        super().__init__(timeout=timeout, stats=stats)
        self._seeds = list(seeds)
        self._make_node = make_node
        self._nodes: dict[Address, Node] = {}
        self._owners: list[Address | None] = [None] * SLOTS
        self._primaries: set[Address] = set()
        self._loaded = False
        self._patched = False  # a slot was corrected from -MOVED since the last full read
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = float("-inf")

    # -- the map ------------------------------------------------------------------

    async def ready(self) -> None:
        if not self._loaded:
            await self.refresh()

    def node_for(self, key: str) -> Node:
        slot = key_slot(key.encode())
        address = self._owners[slot]
        if address is None:
            self.refresh_soon()
            raise ClusterDownError(f"no primary is known to serve slot {slot} (of key {key!r})")
        return self.node_at(address)

    def node_at(self, address: Address) -> Node:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = self._make_node(address)
        return node

    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def is_primary(self, node: Node) -> bool:
        return any(self._nodes.get(address) is node for address in self._primaries)

    def primaries(self) -> list[Node]:
        return [self.node_at(address) for address in sorted(self._primaries)]

    def redirected(self, error: AskError) -> Node | None:
        address: Address = (str(error.host), int(error.port))
        if not isinstance(error, MovedError):
            return self.node_at(address)
        if self._owners[error.slot_id] != address:
            # Correct this slot now; the rest of the map likely changed too.
            self._owners[error.slot_id] = address
            self._primaries.add(address)
            self._patched = True
            self.refresh_soon()
            self._changed(False)
        return None

    def refresh_soon(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)

    async def refresh(self) -> None:
        self.refresh_soon()
        assert self._refreshing is not None
        await asyncio.shield(self._refreshing)

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        error = None if task.cancelled() else task.exception()
        if error is not None and self._loaded:  # before that, the caller of ready() gets it
            logger.warning("tidings: could not re-read the Redis Cluster slot map: %s", error)

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_refresh + _MIN_REFRESH_INTERVAL - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_refresh = loop.time()
        candidates = [*sorted(self._primaries), *self._seeds]
        cause: BaseException | None = None
        for address in dict.fromkeys(candidates):  # deduplicated, in order
            try:
                async with asyncio.timeout(min(_ASK_TIMEOUT, self.timeout)):
                    reply = await self.node_at(address).connections.call(_CLUSTER_SLOTS)
            except UNREACHABLE as exc:  # (including our timeout)
                cause = exc
                continue
            self._install(parse_slots(reply, address))
            return
        raise cause if cause is not None else ConnectionError("no Redis Cluster node to ask")

    def _install(self, owners: list[Address | None]) -> None:
        first = not self._loaded
        self._loaded = True
        patched, self._patched = self._patched, False
        if owners == self._owners and not patched:
            return
        self._owners = owners
        self._primaries = {address for address in owners if address is not None}
        if not first:
            self.stats["topology_refreshes"] += 1
            logger.info(
                "tidings: Redis Cluster slot map changed; primaries: %s",
                ", ".join(format_address(address) for address in sorted(self._primaries)),
            )
        self._changed(True)

    async def aclose(self) -> None:
        task, self._refreshing = self._refreshing, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await super().aclose()
