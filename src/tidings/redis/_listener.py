"""Live fan-out: one Pub/Sub connection per backend, local listeners hanging off it.

The hub owns a single connection subscribed to every channel that has a
local listener. A reader task parses what arrives and calls the listeners;
a sender task writes SUBSCRIBE/UNSUBSCRIBE/PING in the order they were asked
for. Joining a channel that is already live costs no Redis command at all.

Why a joiner's head is safe: appends are atomic scripts that store and then
publish, so per channel, publish order is id order. Once Redis confirmed our
SUBSCRIBE, every later append reaches us. A head read *after* the
confirmation therefore leaves nothing between it and the live feed, and so
does the id of any message received after the confirmation -- the head of a
channel is the newer of the two.

When the connection drops, every listener is told ``DISCONNECTED`` once; the
reader reconnects with exponential backoff, resubscribes everything, and as
each channel's subscription is confirmed its listeners get ``CONNECTED`` and
``on_reset()`` (they re-read the stream from their last id).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from tidings._backend import BackendStatus, Entry, LiveListener
from tidings._exceptions import BackendUnavailableError, ClosedError
from tidings._ids import IdKey

from ._connections import Command, Connections, pack
from ._errors import UNREACHABLE, unavailable

logger = logging.getLogger("tidings.redis")

Decode = Callable[[str, bytes], list[Entry]]
ReadHead = Callable[[str], Awaitable[IdKey]]

_SUBSCRIBE_CHUNK = 1000  # channels per SUBSCRIBE when resubscribing everything
_STABLE_SECS = 1.0  # a connection that lived this long is reconnected at once when lost


class _Channel:
    """Local state of one Redis Pub/Sub channel."""

    __slots__ = (
        "channel",
        "confirmed",
        "confirmed_in",
        "head",
        "head_task",
        "joining",
        "key",
        "listeners",
        "name",
        "needs_reset",
    )

    def __init__(self, name: bytes, key: str, channel: str) -> None:
        self.name = name
        self.key = key
        self.channel = channel
        self.listeners: dict[RedisSubscription, None] = {}
        self.joining = 0
        # The connection generation in which Redis confirmed our SUBSCRIBE.
        self.confirmed_in = -1
        self.confirmed = asyncio.Event()
        # A position every later entry is guaranteed to reach us above, for
        # the current generation; None until a head read or a message.
        self.head: IdKey | None = None
        self.head_task: asyncio.Task[None] | None = None
        # Its listeners were told DISCONNECTED and await CONNECTED + reset.
        self.needs_reset = False

    @property
    def in_use(self) -> bool:
        return bool(self.listeners) or self.joining > 0


class RedisSubscription:
    """A listener attached to one channel of the hub (``tidings.LiveSubscription``)."""

    __slots__ = ("_head", "_hub", "_state", "listener")

    def __init__(self, hub: PubSubHub, state: _Channel, listener: LiveListener, head: IdKey) -> None:
        self._hub = hub
        self._state = state
        self._head = head
        self.listener: LiveListener | None = listener

    @property
    def head(self) -> IdKey:
        return self._head

    async def close(self) -> None:
        if self.listener is not None:
            self.listener = None
            self._hub._detach(self._state, self)


class PubSubHub:
    """Every live subscription of one backend, multiplexed on one Pub/Sub connection."""

    def __init__(
        self,
        connections: Connections,
        *,
        decode: Decode,
        read_head: ReadHead,
        timeout: float,
        health_check_interval: float,
        reconnect_delay: float,
        max_reconnect_delay: float,
    ) -> None:
        self._connections = connections
        self._decode = decode
        self._read_head = read_head
        self._timeout = timeout
        self._health_check_interval = health_check_interval
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._channels: dict[bytes, _Channel] = {}
        self._generation = 0
        self._connected = False
        self._outbox: list[Command] = []
        self._outbox_ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- public -----------------------------------------------------------------------

    async def subscribe(self, key: str, channel: str, listener: LiveListener) -> RedisSubscription:
        """Attach ``listener``; returns once every entry above its head will reach it."""
        if self._closed:
            raise ClosedError("this RedisBackend was closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tidings-redis-pubsub")
        name = key.encode()
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = _Channel(name, key, channel)
            if self._connected:
                self._send(("SUBSCRIBE", name))
        state.joining += 1
        try:
            head = await self._wait_live(state)
        except BaseException as exc:
            state.joining -= 1
            if not state.in_use:
                self._release(state)
            if isinstance(exc, TimeoutError):
                raise unavailable(f"subscribing to channel {channel!r}", None, self._timeout) from None
            raise
        state.joining -= 1
        subscription = RedisSubscription(self, state, listener, head)
        state.listeners[subscription] = None
        return subscription

    def listener_count(self) -> int:
        return sum(len(state.listeners) for state in self._channels.values())

    def channel_count(self) -> int:
        """Redis channels this hub is subscribed to, or about to be."""
        return len(self._channels)

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for state in self._channels.values():
            for subscription in state.listeners:
                subscription.listener = None
            state.listeners.clear()
            state.confirmed.set()  # wake joiners: they see the hub closed
        self._channels.clear()

    # -- joining and leaving ------------------------------------------------------

    async def _wait_live(self, state: _Channel) -> IdKey:
        async with asyncio.timeout(self._timeout):
            while True:
                if self._closed:
                    raise ClosedError("this RedisBackend was closed")
                if state.confirmed_in != self._generation:
                    state.confirmed.clear()  # only a wake-up call: the check above decides
                    await state.confirmed.wait()
                    continue
                if state.head is not None:
                    return state.head
                if state.head_task is None:
                    state.head_task = asyncio.get_running_loop().create_task(
                        self._establish_head(state, self._generation)
                    )
                    state.head_task.add_done_callback(_forget_head_task(state))
                await asyncio.shield(state.head_task)

    async def _establish_head(self, state: _Channel, generation: int) -> None:
        head = await self._read_head(state.key)
        if generation == self._generation and state.confirmed_in == generation:
            state.head = head if state.head is None else max(head, state.head)

    def _detach(self, state: _Channel, subscription: RedisSubscription) -> None:
        state.listeners.pop(subscription, None)
        if not state.in_use:
            self._release(state)

    def _release(self, state: _Channel) -> None:
        """Forget a channel nobody listens to any more, unsubscribing it in Redis."""
        if self._channels.get(state.name) is not state:
            return
        if not self._connected:
            # Nothing is subscribed on a connection that does not exist yet.
            del self._channels[state.name]
        elif state.confirmed_in == self._generation:
            del self._channels[state.name]
            self._send(("UNSUBSCRIBE", state.name))
        # Otherwise its SUBSCRIBE is in flight: it is released on confirmation,
        # so that replies for one name always alternate subscribe/unsubscribe.

    # -- the connection ------------------------------------------------------------

    def _send(self, command: Command) -> None:
        self._outbox.append(command)
        self._outbox_ready.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._reconnect_delay
        while True:
            try:
                connection = await self._connections.open_dedicated()
            except Exception as exc:  # unreachable, or refused (auth, ACL...): keep trying
                self._lost(exc)
                await self._backoff(delay)
                delay = min(delay * 2, self._max_reconnect_delay)
                continue
            connected_at = loop.time()
            error = await self._serve(connection)
            self._lost(error)
            if loop.time() - connected_at < _STABLE_SECS:
                # Dropped again right away (e.g. Redis keeps cutting us off for
                # falling behind): back off instead of hammering it.
                await self._backoff(delay)
                delay = min(delay * 2, self._max_reconnect_delay)
            else:
                delay = self._reconnect_delay

    async def _backoff(self, delay: float) -> None:
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _serve(self, connection: AbstractConnection) -> BaseException:
        """Use one connection until it fails; returns why it failed."""
        self._generation += 1
        self._connected = True
        self._outbox.clear()
        names = [state.name for state in self._channels.values()]
        for start in range(0, len(names), _SUBSCRIBE_CHUNK):
            self._send(("SUBSCRIBE", *names[start : start + _SUBSCRIBE_CHUNK]))
        sender = asyncio.get_running_loop().create_task(self._send_loop(connection))
        try:
            await self._read_loop(connection, sender)
        except UNREACHABLE as exc:
            return exc
        except Exception as exc:  # not expected: start afresh rather than die silently
            logger.exception("tidings: the Redis Pub/Sub reader failed")
            return exc
        finally:
            self._connected = False
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await connection.disconnect(nowait=True)

    async def _send_loop(self, connection: AbstractConnection) -> None:
        try:
            while True:
                await self._outbox_ready.wait()
                self._outbox_ready.clear()
                commands, self._outbox = self._outbox, []
                if not connection.is_connected:
                    return  # never let redis-py reconnect it behind the reader's back
                if commands:
                    await connection.send_packed_command(pack(commands, connection), check_health=False)
        except UNREACHABLE:
            # The reader sees the closed connection and handles the loss.
            await connection.disconnect(nowait=True)

    async def _read_loop(self, connection: AbstractConnection, sender: asyncio.Task[None]) -> NoReturn:
        interval = self._health_check_interval
        awaiting_pong = False
        while True:
            try:
                reply: Any = await connection.read_response(disable_decoding=True, timeout=interval)
            except ResponseError as exc:
                # e.g. an ACL refusing one channel: the others keep working,
                # and joiners of that channel time out with an error.
                logger.error("tidings: Redis refused a Pub/Sub command: %s", exc)
                continue
            if reply is None:
                if sender.done() or awaiting_pong:
                    raise ConnectionError(f"no reply from Redis Pub/Sub within {interval:g} s")
                awaiting_pong = True
                self._send(("PING",))
                continue
            awaiting_pong = False
            if not isinstance(reply, list) or len(reply) < 3:
                continue  # PONG outside subscribed mode
            kind = reply[0]
            if kind == b"message":
                self._on_message(reply[1], reply[2])
            elif kind == b"subscribe":
                self._on_subscribed(reply[1])

    # -- what arrives ----------------------------------------------------------------

    def _on_message(self, name: bytes, message: bytes) -> None:
        state = self._channels.get(name)
        if state is None or state.confirmed_in != self._generation:
            return  # left over from an earlier subscription of the same name
        try:
            entries = self._decode(state.channel, message)
        except Exception:
            logger.exception("tidings: undecodable message on Redis channel %r", state.key)
            return
        if not entries:
            return
        last = entries[-1].key
        if state.head is None or last > state.head:
            state.head = last
        for subscription in state.listeners:
            listener = subscription.listener
            if listener is not None:
                try:
                    listener.on_entries(entries)
                except Exception:
                    logger.exception("tidings: live listener of %r failed", state.channel)

    def _on_subscribed(self, name: bytes) -> None:
        state = self._channels.get(name)
        if state is None or state.confirmed_in == self._generation:
            return
        state.confirmed_in = self._generation
        state.confirmed.set()
        if not state.in_use:
            self._release(state)
            return
        if state.needs_reset:
            state.needs_reset = False
            for subscription in list(state.listeners):
                _notify(subscription, BackendStatus.CONNECTED, None)

    def _lost(self, cause: BaseException) -> None:
        """The connection is gone (or could not be made): tell each listener once."""
        self._connected = False
        error: BaseException = cause
        if not isinstance(cause, BackendUnavailableError):
            error = unavailable("listening on Redis Pub/Sub (reconnecting)", cause)
        for state in list(self._channels.values()):
            state.confirmed.clear()
            state.confirmed_in = -1
            state.head = None
            if not state.in_use:
                del self._channels[state.name]
                continue
            if state.listeners and not state.needs_reset:
                state.needs_reset = True
                for subscription in list(state.listeners):
                    _notify(subscription, BackendStatus.DISCONNECTED, error)


def _notify(subscription: RedisSubscription, status: BackendStatus, error: BaseException | None) -> None:
    listener = subscription.listener
    if listener is None:
        return
    try:
        listener.on_status(status, error)
        if status is BackendStatus.CONNECTED:
            listener.on_reset()
    except Exception:
        logger.exception("tidings: live listener failed on status %s", status.value)


def _forget_head_task(state: _Channel) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if state.head_task is task:
            state.head_task = None
        if not task.cancelled():
            task.exception()  # retrieved here; the joiners awaiting it re-raise it

    return done
