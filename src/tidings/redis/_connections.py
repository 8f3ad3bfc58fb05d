"""Connections to one Redis server: a blocking pool for reads, dedicated ones for writes and Pub/Sub.

Reads borrow a pooled connection per command (retries and redirects are the
router's business, see ``_routing``). The writer and the Pub/Sub reader each
own one long-lived connection made with the pool's settings but forced to
RESP2 bytes, so their replies have one known shape whatever the user's client
is configured for.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError, RedisError, ResponseError
from redis.typing import EncodableT

from tidings._exceptions import BackendConfigurationError

from ._errors import refusal

Command = tuple[EncodableT, ...]
ASKING: Command = ("ASKING",)

_pack_one: Callable[[Command], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - the redis extra installs hiredis
    _pack_one = None
else:
    _pack_one = cast("Callable[[Command], bytes]", _hiredis_pack)


def pack(commands: Iterable[Command], connection: AbstractConnection) -> list[bytes]:
    """Serialise commands for one write (hiredis' C packer when available)."""
    if _pack_one is not None:
        return [b"".join([_pack_one(command) for command in commands])]
    return connection.pack_commands(commands)


class Connections:
    """The pool (possibly the user's) and a factory for dedicated connections."""

    def __init__(self, pool: ConnectionPool, *, owns_pool: bool, timeout: float) -> None:
        self.pool = pool
        self._owns_pool = owns_pool
        self._timeout = timeout
        # For messages: which server, and which database (a wrong one is a common mistake).
        self.server = f"{server_name(pool)}/{pool.connection_kwargs.get('db', 0)}"

    def refusal(self, cause: BaseException) -> BackendConfigurationError | None:
        """The error to raise at once if ``cause`` is this server refusing a connection for good
        (credentials, database number, ACL); None for anything else."""
        return refusal(f"a connection to {self.server}", cause)

    def dedicated(self) -> AbstractConnection:
        """A new unconnected connection outside the pool, with our own timeouts."""
        kwargs = dict(self.pool.connection_kwargs)
        kwargs.update(
            protocol=2,
            decode_responses=False,
            # Every wait is bounded by the caller with asyncio timeouts instead:
            # a socket_timeout would also wrap each write in its own task.
            socket_timeout=None,
            retry=None,
            retry_on_timeout=False,
            retry_on_error=[],
            health_check_interval=0,
        )
        kwargs.setdefault("socket_connect_timeout", self._timeout)
        if kwargs["socket_connect_timeout"] is None:
            kwargs["socket_connect_timeout"] = self._timeout
        connection: AbstractConnection = self.pool.connection_class(**kwargs)
        return connection

    async def open_dedicated(self) -> AbstractConnection:
        """A connected dedicated connection, within ``command_timeout``."""
        connection = self.dedicated()
        try:
            async with asyncio.timeout(self._timeout):
                await connect(connection)
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return connection

    async def call(self, command: Command, *, asking: bool = False) -> Any:
        """Run one command on a pooled connection; raw RESP reply (bytes, lists).

        Connection trouble is raised as is, and error replies as redis-py's
        ``ResponseError`` (``MovedError``...), for the router to interpret.
        ``asking`` sends ``ASKING`` first, as a Redis Cluster ``-ASK`` requires.
        """
        try:
            connection: AbstractConnection = await self.pool.get_connection()  # type: ignore[no-untyped-call]
        except RedisError as exc:  # connecting, or AUTH / SELECT on connect
            refused = self.refusal(exc)
            if refused is None:
                raise
            raise refused from exc
        try:
            commands = [ASKING, command] if asking else [command]
            await connection.send_packed_command(pack(commands, connection), check_health=False)
            # A cancelled read disconnects the connection before it returns to
            # the pool, so a late reply can never be taken for the next command's.
            if asking:
                await connection.read_response(disable_decoding=True, timeout=math.inf)
            return await connection.read_response(disable_decoding=True, timeout=math.inf)
        except ConnectionError as exc:  # redis-py files NOAUTH / NOPERM replies here too
            refused = self.refusal(exc)
            if refused is None:
                raise
            raise refused from exc
        finally:
            await self.pool.release(connection)

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """Run commands in one round trip on a pooled connection; a reply per command,
        error replies as their exception (not raised)."""
        try:
            connection: AbstractConnection = await self.pool.get_connection()  # type: ignore[no-untyped-call]
        except RedisError as exc:
            refused = self.refusal(exc)
            if refused is None:
                raise
            raise refused from exc
        try:
            await connection.send_packed_command(pack(commands, connection), check_health=False)
            return [await read_reply(connection) for _ in commands]
        finally:
            await self.pool.release(connection)

    async def aclose(self) -> None:
        if self._owns_pool:
            await self.pool.aclose()


def server_name(pool: ConnectionPool) -> str:
    """``host:port`` (or the socket path) of the server a pool connects to, for messages."""
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


async def connect(connection: AbstractConnection) -> None:
    await connection.connect()  # type: ignore[no-untyped-call]


async def read_reply(connection: AbstractConnection) -> Any:
    """The next reply; an error reply is returned as its exception, not raised."""
    try:
        return await connection.read_response(disable_decoding=True, timeout=math.inf)
    except ResponseError as exc:
        return exc
