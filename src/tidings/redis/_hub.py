"""Live fan-out: one Pub/Sub connection per Redis node, local listeners hanging off it.

The hub keeps one *link* -- a Pub/Sub connection with a reader and a sender
task -- per node that serves a channel with a local listener: a single one on
a lone Redis; one per primary on a Redis Cluster, where channels are sharded
(SSUBSCRIBE, SPUBLISH: a message never leaves its slot's shard), so no node
has to relay another's traffic and no reader waits on another node's.
``_link`` speaks the protocol; the hub decides which channel goes on which
link and calls the listeners with what arrives. Joining a channel that is
already live costs no Redis command at all.

Why a joiner's head is safe: appends are atomic scripts that store and then
publish, so per channel, publish order is id order. Once Redis confirmed our
SUBSCRIBE, every later append reaches us. A head read *after* the
confirmation therefore leaves nothing between it and the live feed, and so
does the id of any message received after the confirmation -- the head of a
channel is the newer of the two.

Whenever a channel's subscription is interrupted, its listeners are told
``on_reset()`` once it is restored (they re-read the stream from their last
id), so nothing is missed:

* the connection drops: listeners are told ``DISCONNECTED`` once; the link
  reconnects with exponential backoff and resubscribes everything;
* (cluster) the server unsubscribes us because the channel's slot moved to
  another node or its primary was demoted: the slot map is re-read and the
  channel subscribed where it lives now (an ``-MOVED`` reply on the way says
  where, too);
* (cluster) a node cannot be reached: the slot map is re-read every
  ``_WATCH_INTERVAL`` until the link is back or its channels moved to the
  replica that took over.

The hub's local state lives here too: one ``ChannelState`` per subscribed
Redis channel, and the listeners attached to it (``RedisSubscription``, what
``subscribe`` returns).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from redis.crc import key_slot
from redis.exceptions import MovedError, ResponseError

from tidings._backend import Attachment, BackendStatus, Entry, LiveListener
from tidings._exceptions import BackendError, ClosedError
from tidings._ids import IdKey

from ._errors import REDIRECTS, UNREACHABLE, refusal, unavailable
from ._link import PLAIN, SHARDED, Link, serve
from ._routing import Node, NodeRouter

logger = logging.getLogger("tidings.redis")

Decode = Callable[[str, bytes], list[Entry]]
ReadHead = Callable[[str], Awaitable[IdKey]]

_STABLE_SECS = 1.0  # a connection that lived this long is reconnected at once when lost
_WATCH_INTERVAL = 0.25  # how often a cluster's map is re-read while a link is down


class ChannelState:
    """Local state of one Redis Pub/Sub channel."""

    __slots__ = (
        "channel",
        "confirmed",
        "confirmed_in",
        "head",
        "head_task",
        "joining",
        "key",
        "link",
        "listeners",
        "name",
        "needs_reset",
        "refused",
    )

    def __init__(self, name: bytes, key: str, channel: str) -> None:
        self.name = name
        self.key = key
        self.channel = channel
        self.listeners: dict[RedisSubscription, None] = {}
        self.joining = 0
        # The link it is subscribed through (None while its slot has no known owner).
        self.link: Link[ChannelState] | None = None
        # The connection generation in which Redis confirmed our SUBSCRIBE.
        self.confirmed_in = -1
        self.confirmed = asyncio.Event()
        # A position every later entry is guaranteed to reach us above, for
        # the current generation; None until a head read or a message.
        self.head: IdKey | None = None
        self.head_task: asyncio.Task[None] | None = None
        # Its listeners may have missed entries and await CONNECTED + reset.
        self.needs_reset = False
        # Why Redis refused our SUBSCRIBE for good (NOAUTH, an ACL), until it confirms one.
        self.refused: BaseException | None = None

    @property
    def in_use(self) -> bool:
        return bool(self.listeners) or self.joining > 0

    @property
    def live(self) -> bool:
        """Redis confirmed our SUBSCRIBE on the link's current connection.

        Only then does every later append reach us, so only then is a head
        read worth anything. Before the first connection both generations
        are -1: ``connected`` tells that apart.
        """
        link = self.link
        return link is not None and link.connected and self.confirmed_in == link.generation


RedisSubscription = Attachment[ChannelState]
"""A listener attached to one channel of the hub (what ``RedisBackend.subscribe`` returns)."""


def notify(subscription: RedisSubscription, status: BackendStatus, error: BaseException | None) -> None:
    listener = subscription.listener
    if listener is None:
        return
    try:
        listener.on_status(status, error)
        if status is BackendStatus.CONNECTED:
            listener.on_reset()
    except Exception:
        logger.exception("tidings: live listener failed on status %s", status.value)


def forget_head_task(state: ChannelState) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if state.head_task is task:
            state.head_task = None
        if not task.cancelled():
            task.exception()  # retrieved here; the joiners awaiting it re-raise it

    return done


class PubSubHub:
    """Every live subscription of one backend, multiplexed on one connection per node."""

    def __init__(
        self,
        router: NodeRouter,
        *,
        decode: Decode,
        read_head: ReadHead,
        timeout: float,
        health_check_interval: float,
        reconnect_delay: float,
        max_reconnect_delay: float,
    ) -> None:
        self._router = router
        self._verbs = SHARDED if router.sharded else PLAIN
        self._stats = router.stats
        self._decode = decode
        self._read_head = read_head
        self._timeout = timeout
        self._health_check_interval = health_check_interval
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._channels: dict[bytes, ChannelState] = {}
        self._links: dict[Node, Link[ChannelState]] = {}
        self._generations = itertools.count()
        # Channels the server unsubscribed us from, to place again once the map is re-read.
        self._stranded: set[bytes] = set()
        # Slots whose channels left a node, told apart (slot move or failover)
        # once the whole map has been re-read.
        self._departures: dict[Node, set[int]] = {}
        self._settler: asyncio.Task[None] | None = None
        self._closed = False
        router.watch(self._reroute)

    # -- public -----------------------------------------------------------------------

    async def subscribe(self, key: str, channel: str, listener: LiveListener) -> RedisSubscription:
        """Attach ``listener``; returns once every entry above its head will reach it."""
        if self._closed:
            raise ClosedError("this RedisBackend was closed")
        doing = f"subscribing to channel {channel!r}"
        try:
            async with asyncio.timeout(self._timeout):
                await self._router.ready()
        except UNREACHABLE as exc:  # (including our timeout)
            raise unavailable(doing, exc, self._timeout) from None
        name = key.encode()
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = ChannelState(name, key, channel)
            self._assign(state, self._link_for(key))
        state.joining += 1
        try:
            head = await self._wait_live(state)
        except BaseException as exc:
            state.joining -= 1
            if not state.in_use:
                self._release(state)
            if isinstance(exc, TimeoutError):
                raise unavailable(doing, None, self._timeout) from None
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

    def link_count(self) -> int:
        """Pub/Sub connections (one per node serving a subscribed channel)."""
        return len(self._links)

    async def aclose(self) -> None:
        self._closed = True
        tasks = [link.task for link in self._links.values() if link.task is not None]
        if self._settler is not None:
            tasks.append(self._settler)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._channels.values():
            for subscription in state.listeners:
                subscription.listener = None
            state.listeners.clear()
            state.confirmed.set()  # wake joiners: they see the hub closed
        self._channels.clear()
        self._links.clear()

    # -- joining and leaving ------------------------------------------------------

    async def _wait_live(self, state: ChannelState) -> IdKey:
        # Every pass awaits something still pending (an event just cleared, a
        # read not yet done), so the loop yields each time by construction:
        # awaiting a finished task would return at once and spin.
        async with asyncio.timeout(self._timeout):
            while True:
                if self._closed:
                    raise ClosedError("this RedisBackend was closed")
                if state.refused is not None:
                    raise state.refused
                if not state.live:
                    if state.link is not None and state.link.refused is not None:
                        raise state.link.refused
                    state.confirmed.clear()  # only a wake-up call: the check above decides
                    await state.confirmed.wait()
                    continue
                if state.head is not None:
                    return state.head
                read = state.head_task
                if read is None or read.done():
                    # None in flight, or one that ended without a head: it was for an
                    # earlier subscription of the channel (or failed), so read again.
                    read = state.head_task = asyncio.get_running_loop().create_task(
                        self._establish_head(state, state.confirmed_in)
                    )
                    read.add_done_callback(forget_head_task(state))
                await asyncio.shield(read)

    async def _establish_head(self, state: ChannelState, generation: int) -> None:
        head = await self._read_head(state.key)
        if state.live and state.confirmed_in == generation:
            state.head = head if state.head is None else max(head, state.head)

    def detach_listener(self, state: ChannelState, subscription: RedisSubscription) -> None:
        state.listeners.pop(subscription, None)
        if not state.in_use:
            self._release(state)

    def _release(self, state: ChannelState) -> None:
        """Forget a channel nobody listens to any more, unsubscribing it in Redis."""
        if self._channels.get(state.name) is not state:
            return
        link = state.link
        if link is None or not link.connected:
            # Nothing is subscribed on a connection that does not exist yet.
            self._forget(state)
        elif state.live:
            self._forget(state)
            link.unsubscribe(state.name)
        # Otherwise its SUBSCRIBE is in flight: it is released on the reply,
        # so that replies for one name always alternate subscribe/unsubscribe.

    def _forget(self, state: ChannelState) -> None:
        del self._channels[state.name]
        if state.link is not None:
            state.link.channels.pop(state.name, None)
            state.link = None

    # -- placing channels on links ------------------------------------------------------

    def _link_for(self, key: str) -> Link[ChannelState] | None:
        """The link to the node serving ``key`` (started if new); None if no node does yet."""
        try:
            node = self._router.node_for(key)
        except REDIRECTS:  # an uncovered slot: placed when the map is re-read
            return None
        link = self._links.get(node)
        if link is None:
            link = self._links[node] = Link(node, self._verbs)
            link.task = asyncio.get_running_loop().create_task(
                self._run(link), name=f"tidings-redis-pubsub-{node.name}"
            )
        return link

    def _assign(self, state: ChannelState, link: Link[ChannelState] | None) -> None:
        old = state.link
        if old is link:
            return
        if old is not None:
            old.channels.pop(state.name, None)
            if state.live and old.connected:
                old.unsubscribe(state.name)
            self._stats["resubscribes"] += 1
            self._close_if_abandoned(old)
        state.link = link
        state.confirmed_in = -1
        state.head = None
        if state.listeners:
            state.needs_reset = True
        if link is not None:
            link.channels[state.name] = state
            if link.connected:
                link.subscribe(state.name)

    def _close_if_abandoned(self, link: Link[ChannelState]) -> None:
        """Close the link to a node that lost its last channel by no longer serving slots.

        A demoted primary still answers PINGs, so nothing else would ever end
        the connection. A link that is merely idle on a serving node stays
        open: the next subscriber there needs no new connection.
        """
        if link.channels or self._router.is_primary(link.node) or self._links.get(link.node) is not link:
            return
        del self._links[link.node]
        if link.task is not None:
            link.task.cancel()  # its finally: the connection is closed without waiting

    def _resubscribe(self, state: ChannelState) -> None:
        """Subscribe again, wherever the channel lives now (its last attempt failed)."""
        if self._channels.get(state.name) is not state or state.live:
            return
        if not state.in_use:
            self._forget(state)
            return
        link = self._link_for(state.key)
        if link is not state.link:
            self._assign(state, link)
        elif link is not None and link.connected:
            link.subscribe(state.name)

    def _reroute(self, complete: bool) -> None:
        """The cluster's map changed: move every channel whose slot has a new owner."""
        if self._closed:
            return
        for state in list(self._channels.values()):
            link = self._link_for(state.key)
            if link is state.link:
                continue
            if state.link is not None:
                self._departures.setdefault(state.link.node, set()).add(key_slot(state.name))
            self._assign(state, link)
        if complete:
            departures, self._departures = self._departures, {}
            for node, slots in departures.items():
                self._report(node, slots)
            for link in list(self._links.values()):
                self._close_if_abandoned(link)

    def _report(self, node: Node, slots: set[int]) -> None:
        if self._router.is_primary(node):
            self._stats["slot_moves"] += len(slots)
            logger.warning(
                "tidings: %d slot(s) with subscribed channels moved off %s; resubscribed where they "
                "live now, their listeners re-read history",
                len(slots),
                node.name,
            )
        else:
            self._stats["failovers"] += 1
            logger.warning(
                "tidings: %s no longer serves any slot (failover); its channels were resubscribed on "
                "the new primaries, their listeners re-read history",
                node.name,
            )

    def _strand(self, state: ChannelState) -> None:
        """The server dropped this subscription: re-read the map, then subscribe again."""
        self._stranded.add(state.name)
        if self._settler is None:
            self._settler = asyncio.get_running_loop().create_task(self._settle())

    async def _settle(self) -> None:
        try:
            await self._router.refresh()
        except Exception as exc:  # place them with the map we have; -MOVED corrects it
            logger.warning("tidings: could not re-read the Redis Cluster slot map: %s", exc)
        finally:
            self._settler = None
        stranded, self._stranded = self._stranded, set()
        for name in stranded:
            state = self._channels.get(name)
            if state is not None:
                self._resubscribe(state)

    # -- the connections ------------------------------------------------------------

    async def _run(self, link: Link[ChannelState]) -> None:
        loop = asyncio.get_running_loop()
        delay = self._reconnect_delay
        try:
            while link.channels:
                try:
                    connection = await link.node.connections.open_dedicated()
                except Exception as exc:  # unreachable, or refused (auth, ACL...): keep trying
                    self._lost(link, self._refused(link, exc) or exc)
                    await self._backoff(link, delay)
                    delay = min(delay * 2, self._max_reconnect_delay)
                    continue
                connected_at = loop.time()
                error = await self._serve(link, connection)
                self._lost(link, self._refused(link, error) or error)
                if loop.time() - connected_at < _STABLE_SECS:
                    # Dropped again right away (e.g. Redis keeps cutting us off for
                    # falling behind): back off instead of hammering it.
                    await self._backoff(link, delay)
                    delay = min(delay * 2, self._max_reconnect_delay)
                else:
                    delay = self._reconnect_delay
        finally:
            if self._links.get(link.node) is link:
                del self._links[link.node]

    def _refused(self, link: Link[ChannelState], error: BaseException) -> BaseException | None:
        """The typed error if Redis refused the connection for good (AUTH, a missing database).

        Its joiners fail with it at once rather than at their timeout; the
        link keeps trying (with backoff), so a fixed password or ACL is picked
        up, and the next confirmed SUBSCRIBE clears it.
        """
        refused = link.node.connections.refusal(error)
        if refused is not None:
            link.refused = refused
            for state in link.channels.values():
                state.confirmed.set()
        return refused

    async def _backoff(self, link: Link[ChannelState], delay: float) -> None:
        """Wait before reconnecting; on a cluster, watch the map meanwhile (a replica may take over)."""
        remaining = delay * random.uniform(0.5, 1.0)
        while remaining > 0 and link.channels:
            if self._router.sharded:
                self._router.refresh_soon()
            step = min(remaining, _WATCH_INTERVAL)
            await asyncio.sleep(step)
            remaining -= step

    async def _serve(self, link: Link[ChannelState], connection: Any) -> BaseException:
        """Use one connection until it fails; returns why it failed."""
        if link.generation >= 0:
            self._stats["reconnects"] += 1
            self._stats["resubscribes"] += len(link.channels)
        link.reset(next(self._generations))
        for name in link.channels:
            link.subscribe(name)
        try:
            await serve(link, connection, self, health_check_interval=self._health_check_interval)
        except UNREACHABLE as exc:
            return exc
        except Exception as exc:  # not expected: start afresh rather than die silently
            logger.exception("tidings: the Redis Pub/Sub reader of %s failed", link.node.name)
            return exc
        raise AssertionError("serve() only ends by raising")  # pragma: no cover

    # -- what arrives ----------------------------------------------------------------

    def on_message(self, link: Link[ChannelState], name: bytes, message: bytes) -> None:
        state = link.channels.get(name)
        if state is None or not state.live:
            return  # left over from an earlier subscription of the same name
        try:
            entries = self._decode(state.channel, message)
        except Exception as exc:  # MalformedMessageError, or a decoder bug: the same remedy
            self._drop_malformed(state, exc)
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

    def _drop_malformed(self, state: ChannelState, error: BaseException) -> None:
        """Never forward what was published by something else: drop it, re-read history.

        The message may have stood for real appends (a corrupted one), so every
        listener re-reads the stream after its own position; nothing in the
        message moves a head or a cursor.
        """
        self._stats["malformed_messages"] += 1
        logger.warning(
            "tidings: dropped a malformed message on Redis channel %r (%s); its listeners re-read history",
            state.key,
            error,
        )
        for subscription in list(state.listeners):
            listener = subscription.listener
            if listener is not None:
                try:
                    listener.on_reset()
                except Exception:
                    logger.exception("tidings: live listener of %r failed on reset", state.channel)

    def on_subscribed(self, link: Link[ChannelState], name: bytes) -> None:
        link.take((link.verbs.subscribed, name))
        state = self._channels.get(name)
        if state is None:
            return  # released meanwhile; its UNSUBSCRIBE was sent then
        if state.link is not link:
            # Moved to another node while this SUBSCRIBE was in flight: undo it here.
            link.unsubscribe(name)
            return
        if state.live:
            return
        state.refused = link.refused = None
        state.confirmed_in = link.generation
        state.confirmed.set()
        if not state.in_use:
            self._release(state)
            return
        if state.needs_reset:
            state.needs_reset = False
            for subscription in list(state.listeners):
                notify(subscription, BackendStatus.CONNECTED, None)

    def on_unsubscribed(self, link: Link[ChannelState], name: bytes) -> None:
        if link.take((link.verbs.unsubscribed, name)):
            return  # the reply to our own UNSUBSCRIBE
        # Pushed by the server: the slot moved to another node, or this node
        # stopped being a primary (Redis >= 7 drops sharded subscribers then).
        state = link.channels.get(name)
        if state is None or not state.live:
            return
        logger.info(
            "tidings: %s unsubscribed us from %r (its slot moved, or the node is no longer a primary)",
            link.node.name,
            state.key,
        )
        state.confirmed_in = -1
        state.head = None
        if state.listeners:
            state.needs_reset = True
        self._strand(state)

    def on_refused(self, link: Link[ChannelState], error: ResponseError) -> None:
        if isinstance(error, MovedError):
            # The command about that slot was refused: find it by slot, not position.
            slot = error.slot_id
            owed = next((item for item in link.expected if key_slot(item[1]) == slot), None)
            self._router.stats["redirects"] += 1
            self._router.redirected(error)
        else:
            owed = link.expected.popleft() if link.expected else None
            logger.error("tidings: Redis refused a Pub/Sub command on %s: %s", link.node.name, error)
        if owed is None:
            return
        link.take(owed)
        state = link.channels.get(owed[1])
        if owed[0] != link.verbs.subscribed or state is None or state.live:
            return
        if isinstance(error, MovedError):
            self._resubscribe(state)
        elif isinstance(error, REDIRECTS):  # CLUSTERDOWN, TRYAGAIN: not now
            self._strand(state)
        elif (refused := refusal(f"subscribing to channel {state.channel!r}", error)) is not None:
            self._refuse(state, refused)
        elif not state.in_use:
            self._release(state)
        # Anything else: joiners time out with an error.

    def _refuse(self, state: ChannelState, refused: BaseException) -> None:
        """Redis refused the SUBSCRIBE for good (no AUTH, an ACL): say so now, not at the timeout.

        Joiners raise it at once. A channel nobody listens to yet is
        forgotten, so the next subscriber tries afresh; listeners already
        attached are told and stay, subscribed again with the next connection.
        """
        state.refused = refused
        state.confirmed.set()
        if not state.listeners:
            self._forget(state)
            return
        if not state.needs_reset:
            state.needs_reset = True
            for subscription in list(state.listeners):
                notify(subscription, BackendStatus.DISCONNECTED, refused)

    def _lost(self, link: Link[ChannelState], cause: BaseException) -> None:
        """The connection is gone (or could not be made): tell each listener once."""
        link.connected = False
        error: BaseException = cause
        if not isinstance(cause, BackendError):
            error = unavailable(f"listening on Redis Pub/Sub at {link.node.name} (reconnecting)", cause)
        if self._router.sharded:
            self._router.refresh_soon()
        for state in list(link.channels.values()):
            state.confirmed_in = -1
            state.head = None
            if not state.in_use:
                self._forget(state)
                continue
            if state.listeners and not state.needs_reset:
                state.needs_reset = True
                for subscription in list(state.listeners):
                    notify(subscription, BackendStatus.DISCONNECTED, error)
