"""One Pub/Sub connection to one Redis node: commands out, replies and messages in.

The hub (``_hub``) keeps a ``Link`` per node and decides what to
subscribe where; this module only speaks the protocol. A sender task writes
the queued commands in order; the reader parses what arrives and hands it to
the hub, telling replies from server pushes: every command we send is
*owed* a reply, so an ``unsubscribe`` nobody owes us is a push (Redis >= 7
sends one to sharded subscribers when a slot leaves the node). An idle
connection is PINGed after ``health_check_interval`` and given up if the PING
is not answered within as long again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from redis.exceptions import ResponseError

from ._connections import Command, pack
from ._errors import UNREACHABLE
from ._routing import Node

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Verbs:
    subscribe: bytes
    unsubscribe: bytes
    subscribed: bytes  # the kinds of the replies and pushes
    unsubscribed: bytes
    message: bytes


PLAIN = Verbs(b"SUBSCRIBE", b"UNSUBSCRIBE", b"subscribe", b"unsubscribe", b"message")
SHARDED = Verbs(b"SSUBSCRIBE", b"SUNSUBSCRIBE", b"ssubscribe", b"sunsubscribe", b"smessage")
_PONG = (b"pong", b"")


class Link(Generic[C]):
    """The connection to one node, and the channels (of type ``C``) subscribed through it."""

    __slots__ = (
        "channels",
        "connected",
        "expected",
        "generation",
        "node",
        "outbox",
        "outbox_ready",
        "refused",
        "task",
        "verbs",
    )

    def __init__(self, node: Node, verbs: Verbs) -> None:
        self.node = node
        self.verbs = verbs
        self.channels: dict[bytes, C] = {}
        # Unique across the hub's links, so a channel moved between links can
        # never pass for confirmed on the new one; -1 before the first connection.
        self.generation = -1
        self.connected = False
        self.outbox: list[Command] = []
        self.outbox_ready = asyncio.Event()
        # Replies we are owed, in order: (kind, channel).
        self.expected: deque[tuple[bytes, bytes]] = deque()
        self.task: asyncio.Task[None] | None = None
        # Why Redis refused the connection for good (auth, a missing database),
        # until a SUBSCRIBE is confirmed on it: joiners fail with it at once.
        self.refused: BaseException | None = None

    def subscribe(self, name: bytes) -> None:
        self._send((self.verbs.subscribe, name), (self.verbs.subscribed, name))

    def unsubscribe(self, name: bytes) -> None:
        self._send((self.verbs.unsubscribe, name), (self.verbs.unsubscribed, name))

    def ping(self) -> None:
        self._send((b"PING",), _PONG)

    def _send(self, command: Command, owed: tuple[bytes, bytes]) -> None:
        self.outbox.append(command)
        self.expected.append(owed)
        self.outbox_ready.set()

    def take(self, owed: tuple[bytes, bytes]) -> bool:
        """Strike ``owed`` off the replies we wait for; False if it was not owed (a push)."""
        try:
            self.expected.remove(owed)
        except ValueError:
            return False
        return True

    def reset(self, generation: int) -> None:
        """A new connection: nothing queued, nothing owed."""
        self.generation = generation
        self.connected = True
        self.outbox.clear()
        self.expected.clear()


class Events(Protocol[C]):
    """What the hub does with what arrives on a link."""

    def on_message(self, link: Link[C], name: bytes, message: bytes) -> None: ...

    def on_subscribed(self, link: Link[C], name: bytes) -> None: ...

    def on_unsubscribed(self, link: Link[C], name: bytes) -> None:
        """A reply to our UNSUBSCRIBE (owed) or a server push (not owed)."""

    def on_refused(self, link: Link[C], error: ResponseError) -> None: ...


async def serve(link: Link[C], connection: Any, events: Events[C], *, health_check_interval: float) -> None:
    """Run the connection until it fails (raises); ``link.reset()`` must come first."""
    sender = asyncio.get_running_loop().create_task(_send_loop(link, connection))
    try:
        await _read_loop(link, connection, sender, events, health_check_interval)
    finally:
        link.connected = False
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await connection.disconnect(nowait=True)


async def _send_loop(link: Link[Any], connection: Any) -> None:
    try:
        while True:
            await link.outbox_ready.wait()
            link.outbox_ready.clear()
            commands, link.outbox = link.outbox, []
            if not connection.is_connected:
                return  # never let redis-py reconnect it behind the reader's back
            if commands:
                await connection.send_packed_command(pack(commands, connection), check_health=False)
    except UNREACHABLE:
        # The reader sees the closed connection and handles the loss.
        await connection.disconnect(nowait=True)


async def _read_loop(
    link: Link[C], connection: Any, sender: asyncio.Task[None], events: Events[C], interval: float
) -> NoReturn:
    verbs = link.verbs
    awaiting_pong = False
    while True:
        try:
            reply: Any = await connection.read_response(disable_decoding=True, timeout=interval)
        except ResponseError as error:
            awaiting_pong = False
            events.on_refused(link, error)
            continue
        if reply is None:
            if sender.done() or awaiting_pong:
                raise ConnectionError(f"no reply from Redis Pub/Sub within {interval:g} s")
            awaiting_pong = True
            link.ping()
            continue
        awaiting_pong = False
        if not isinstance(reply, list) or len(reply) < 3:
            link.take(_PONG)  # PONG, in or outside subscribed mode
            continue
        kind = reply[0]
        if kind == verbs.message:
            events.on_message(link, reply[1], reply[2])
        elif kind == verbs.subscribed:
            events.on_subscribed(link, reply[1])
        elif kind == verbs.unsubscribed:
            events.on_unsubscribed(link, reply[1])
