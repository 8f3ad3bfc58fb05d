"""Presence on Redis: the scripts of ``_presence_scripts`` routed to each channel's node.

Every script is idempotent (entering a known connection id refreshes it,
leaving or sweeping an unknown one does nothing), so the router may resend
one whose outcome was unknown without doubling an event.

Heartbeats refresh all of this process's connections in one pipelined
round trip per node. Sweepers find channels through an index (a sorted set
of channel names) that enters and heartbeats bump; a sweeper forgets a
channel it found empty only if nobody bumped it meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import NoScriptError, RedisError
from redis.typing import EncodableT

from tidings._backend import Retention
from tidings._presence import presence_channel

from ._connections import Command
from ._errors import wrap
from ._layout import Layout
from ._presence_scripts import FORGET_CHANNEL, MEMBERS, REFRESH
from ._routing import Node, NodeRouter
from ._scripts import Script

SWEEP_BATCH = 200  # connections one sweep call removes at most (its leaves are one append)


async def run_script(
    router: NodeRouter, script: Script, keys: Sequence[str], args: Sequence[EncodableT], *, doing: str
) -> Any:
    """EVALSHA, falling back to EVAL (which also caches it) when Redis lost the script."""
    try:
        try:
            return await router.call(keys[0], script.evalsha(keys, args), doing=doing)
        except NoScriptError:
            # NOSCRIPT means nothing ran, so sending it again cannot duplicate.
            return await router.call(keys[0], script.eval(keys, args), doing=doing)
    except RedisError as exc:
        raise wrap(doing, exc) from exc


def _ids(raw: Sequence[bytes]) -> list[str]:
    return [item.decode() for item in raw]


class RedisPresence:
    def __init__(self, router: NodeRouter, layout: Layout, *, timeout: float) -> None:
        self._router = router
        self._layout = layout
        self._scripts = layout.presence_scripts
        self._timeout = timeout
        self._index = layout.presence_index_key()

    def _header_for(self, channel: str, retention: Retention) -> list[EncodableT]:
        header = self._layout.append_args(presence_channel(channel), [], retention)
        return [len(header), *header]

    async def _bump(self, channel: str) -> None:
        await self._router.call(self._index, ("ZINCRBY", self._index, 1, channel), doing="indexing presence")

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
        # Indexed before and after: whatever a sweeper forgets in between, the
        # channel is in the index once the connection exists.
        await self._bump(channel)
        args = [*self._header_for(channel, retention), connection_id, client_id, ttl_ms, member]
        raw = await run_script(
            self._router,
            self._scripts.enter,
            self._layout.presence_keys(channel),
            args,
            doing=f"entering {client_id!r} into the presence of channel {channel!r}",
        )
        await self._bump(channel)
        return raw[0].decode() if raw else None

    async def leave(self, channel: str, connection_ids: Sequence[str], *, retention: Retention) -> list[str]:
        raw = await run_script(
            self._router,
            self._scripts.leave,
            self._layout.presence_keys(channel),
            [*self._header_for(channel, retention), *connection_ids],
            doing=f"leaving the presence of channel {channel!r}",
        )
        return _ids(raw)

    async def refresh(self, connections: Mapping[str, Sequence[str]], *, ttl_ms: int) -> dict[str, list[str]]:
        router = self._router
        async with asyncio.timeout(self._timeout):
            await router.ready()
            batches: dict[str, tuple[Node, list[Command], list[str]]] = {}

            def batch(key: str) -> tuple[Node, list[Command], list[str]]:
                node = router.node_for(key)
                return batches.setdefault(node.name, (node, [], []))

            for channel, connection_ids in connections.items():
                keys = self._layout.presence_keys(channel)
                _, commands, owners = batch(keys[2])
                commands.append(REFRESH.eval(keys[2:4], [ttl_ms, *connection_ids]))
                owners.append(channel)
            _, commands, owners = batch(self._index)
            for channel in connections:
                commands.append(("ZINCRBY", self._index, 1, channel))
                owners.append("")
            replies = await asyncio.gather(
                *(node.connections.pipeline(cmds) for node, cmds, _ in batches.values())
            )
        missing: dict[str, list[str]] = {}
        for (_, commands, owners), results in zip(batches.values(), replies, strict=True):
            for command, channel, result in zip(commands, owners, results, strict=True):
                if isinstance(result, Exception):
                    # A slot moved (or the like): this one goes through the router instead.
                    router.refresh_soon()
                    key = str(command[3]) if channel else self._index
                    result = await router.call(key, command, doing="refreshing presence")
                if channel and result:
                    missing[channel] = _ids(result)
        return missing

    async def sweep(self, *, retention: Retention) -> int:
        raw = await self._router.call(
            self._index, ("ZRANGE", self._index, 0, -1, "WITHSCORES"), doing="reading the presence index"
        )
        emitted = 0
        for position in range(0, len(raw), 2):
            try:
                channel, score = raw[position].decode(), raw[position + 1]
            except UnicodeDecodeError:
                continue  # not written by tidings (names are text): not ours to sweep
            keys = self._layout.presence_keys(channel)
            header = self._header_for(channel, retention)
            while True:
                ids, left, removed = await run_script(
                    self._router,
                    self._scripts.sweep,
                    keys,
                    [*header, SWEEP_BATCH],
                    doing=f"sweeping the presence of channel {channel!r}",
                )
                emitted += len(ids)
                if removed < SWEEP_BATCH:
                    break
            if left == 0:
                await run_script(
                    self._router,
                    FORGET_CHANNEL,
                    [self._index],
                    [channel, score],
                    doing="pruning the presence index",
                )
        return emitted

    async def members(self, channel: str, *, limit: int) -> list[bytes]:
        keys = self._layout.presence_keys(channel)
        raw = await run_script(
            self._router, MEMBERS, keys[:1], [limit], doing=f"reading the presence of channel {channel!r}"
        )
        return list(raw)

    async def count(self, channel: str) -> int:
        key = self._layout.presence_keys(channel)[0]
        try:
            return int(
                await self._router.call(key, ("HLEN", key), doing=f"counting the presence of {channel!r}")
            )
        except RedisError as exc:
            raise wrap(f"counting the presence of channel {channel!r}", exc) from exc
