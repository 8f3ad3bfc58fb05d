"""One backend subscription per channel, shared by the native server's single-channel streams.

Every stream on ONE channel sends the same bytes for an event: the frame, and
its ``id:`` line too (the cursor of a one-channel stream is the channel's tag
and the event id). So once such a stream is in step with the channel, it needs
no feed of its own: a ``ChannelTap`` holds one ``Feed`` for the channel, builds
each batch's frames once, and writes it to every member. An event then costs
one backend callback and one loop over the members -- a check and a
write each (``Connection.offer``) -- instead of a feed callback, a wake-up and a flush
per stream. With 5 000 streams on a channel this halves the server's work per
event (see BENCHMARKS.md).

Nothing else changes for a stream. It opens with its own feed (replay,
``Last-Event-ID`` resumption, the replay limit), and joins the tap only when
both feeds are settled at the same position (``Feed.settled``): from then on
the tap's feed hands out exactly what the stream's own would have, so the
switch has no gap and no duplicate. A member whose socket is full
(``pause_writing``) is not written to: it leaves at the position it was
written up to and reopens a feed of its own from there, which catches up from
history -- and says so if history no longer holds the events. Resets of the
backend's live feed (a Redis reconnect) are caught up once, by the tap's feed,
for every member.

The native server's ``Taps`` (one per endpoint) makes a channel's tap when a
second stream arrives (one stream gains nothing from it); it closes when its
last stream leaves. Taps are the native server's only: its writes are
immediate, while under ASGI a member would be mid-``send`` (not writable) at
almost every batch and leave again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from tidings._backend import Entry
from tidings._counters import COUNTERS
from tidings._exceptions import ClosedError, EventsLostError
from tidings._feed import Feed
from tidings.asgi._connection import Connection
from tidings.asgi._cursor import channel_tag
from tidings.asgi._frames import FrameCache, error_frame

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")


class ChannelTap:
    """The shared feed of one channel and the streams it writes to."""

    __slots__ = (
        "_closed",
        "_feed",
        "_frames",
        "_position",
        "_reading",
        "_realtime",
        "_scheduled",
        "_starting",
        "_tag",
        "_tasks",
        "candidates",
        "channel",
        "left",
        "members",
    )

    def __init__(
        self, realtime: Realtime, channel: str, frames: FrameCache, tasks: set[asyncio.Task[None]]
    ) -> None:
        self.channel = channel
        self._realtime = realtime
        self._frames = frames
        self._tasks = tasks  # the endpoint's: shutdown waits for them
        self._tag = channel_tag(channel)
        self._feed: Feed | None = None
        # The id of the last entry written to every member.
        self._position = ""
        # Streams on this channel on their own feed (or reopening it); they join once in step.
        self.candidates: set[Connection] = set()
        # A dict, not a set: members are written in the order they joined.
        self.members: dict[Connection, None] = {}
        # Members that had to leave (a full socket): for tests and metrics.
        self.left = 0
        self._scheduled = False
        self._reading = False
        self._starting = False
        self._closed = False
        COUNTERS.taps += 1

    @property
    def empty(self) -> bool:
        return not self.members and not self.candidates

    def add(self, connection: Connection) -> None:
        """A new stream on this channel, still on its own feed."""
        self.candidates.add(connection)
        if self._feed is None and not self._starting:
            self._starting = True
            self._spawn(self._start())

    async def _start(self) -> None:
        try:
            feed = await self._realtime._open_feed(self.channel, None, None, None)
        except Exception as exc:
            # The streams keep their own feeds; the next stream to arrive tries again.
            logger.debug("tidings.asgi: no shared feed for channel %r: %s", self.channel, exc)
            self._starting = False
            return
        if self._closed:
            await feed.close()
            return
        self._feed = feed
        self._position = feed.last_id
        feed.set_waker(self._wake)
        self._join_ready()

    async def leave(self, connection: Connection) -> None:
        """``connection`` closed; the tap closes with its last stream."""
        if connection in self.members:
            del self.members[connection]
            COUNTERS.tap_members -= 1
        self.candidates.discard(connection)
        if self.empty and not self._closed:
            self._closed = True
            COUNTERS.taps -= 1
            if self._feed is not None:
                self._feed.set_waker(None)
                await self._feed.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- joining -------------------------------------------------------------------

    def try_join(self, connection: Connection) -> bool:
        """Move ``connection`` onto the shared feed if both are in step now."""
        feed = self._feed
        if feed is None or self._scheduled or self._reading or not feed.settled:
            return False
        if not connection.in_step():
            return False
        own = connection.own_feed()
        if own is None or not own.settled or own.position != feed.position:
            return False
        self.candidates.discard(connection)
        self.members[connection] = None
        COUNTERS.tap_members += 1
        own.set_waker(None)
        # Closed in the background: once ``closed`` is set (at once) the feed takes nothing more.
        self._spawn(own.close())
        connection.joined()
        return True

    def _join_ready(self) -> None:
        for connection in list(self.candidates):
            self.try_join(connection)

    # -- delivery ------------------------------------------------------------------

    def _wake(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        feed = self._feed
        if feed is None or self._reading or self._closed:
            return
        if feed.needs_read:
            # A catch-up read (after a reset or an overflow): once, for every member.
            self._reading = True
            self._spawn(self._read(feed))
            return
        self._deliver(feed.pull_ready())

    async def _read(self, feed: Feed) -> None:
        try:
            item: list[Entry] | BaseException | None = await feed.pull()
        except ClosedError:
            item = None
        finally:
            self._reading = False
        self._deliver(item)

    def _deliver(self, item: list[Entry] | BaseException | None) -> None:
        if self._closed:
            return
        if item is None:
            self._fail_all("the event backend was closed")
            return
        position = self._position
        if isinstance(item, BaseException):
            written = self._write_all(error_frame(str(item)))
            if isinstance(item, EventsLostError):
                COUNTERS.events_lost_notices += written
        elif item:
            single = self._frames.single
            tag = self._tag
            written = self._write_all(b"".join([single(entry, tag) for entry in item]))
            # Counted per batch: every member written got every entry.
            COUNTERS.deliveries += written * len(item)
            position = item[-1].id
        self._position = position
        assert self._feed is not None
        if self._feed.has_work:
            self._wake()
        elif self.candidates:
            self._join_ready()

    def _write_all(self, data: bytes) -> int:
        """Write ``data`` to every member that takes it now; how many did."""
        leaving: list[Connection] = []
        # The hot loop: one check and one write per member.
        for connection in self.members:
            # A stream that is ending still gets what came before its last frame.
            if not connection.offer(data):
                leaving.append(connection)
        for connection in leaving:
            # Not written this batch: it resumes from what it was last sent,
            # and may join again once back in step.
            del self.members[connection]
            self.left += 1
            self.candidates.add(connection)
            connection.left(self._position)
        COUNTERS.tap_members -= len(leaving)
        # Each catches up from history on a feed of its own: a slow consumer.
        COUNTERS.catch_ups += len(leaving)
        return len(self.members)

    def _fail_all(self, text: str) -> None:
        members, self.members = self.members, {}
        COUNTERS.tap_members -= len(members)
        for connection in members:
            connection.failed(text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class Taps:
    """The channel taps of one endpoint's streams on one native server."""

    __slots__ = ("_frames", "_lone", "_realtime", "_tasks", "taps")

    def __init__(self, realtime: Realtime, frames: FrameCache, tasks: set[asyncio.Task[None]]) -> None:
        self._realtime = realtime
        self._frames = frames
        self._tasks = tasks
        self.taps: dict[str, ChannelTap] = {}
        # The one single-channel stream of a channel without a tap: a tap
        # (a second feed) is made only once a second stream comes.
        self._lone: dict[str, Connection] = {}

    @property
    def empty(self) -> bool:
        return not self.taps and not self._lone

    def add(self, connection: Connection) -> None:
        """A started stream; one on a single channel may come to share its channel's feed."""
        if len(connection.channels) != 1:
            return
        channel = connection.channels[0]
        tap = self.taps.get(channel)
        if tap is None or tap.closed:
            first = self._lone.pop(channel, None)
            if first is None:
                self._lone[channel] = connection
                return
            tap = self.taps[channel] = ChannelTap(self._realtime, channel, self._frames, self._tasks)
            self._enter(tap, first)
        self._enter(tap, connection)

    def _enter(self, tap: ChannelTap, connection: Connection) -> None:
        connection.on_caught_up = tap.try_join
        tap.add(connection)

    async def leave(self, connection: Connection) -> None:
        """``connection`` ended: off its tap (closed with its last stream), or off the lone list."""
        if len(connection.channels) != 1:
            return
        channel = connection.channels[0]
        if self._lone.get(channel) is connection:
            del self._lone[channel]
        tap = self.taps.get(channel)
        if tap is None or connection.on_caught_up is None:
            return
        connection.on_caught_up = None
        await tap.leave(connection)
        if tap.closed and self.taps.get(channel) is tap:
            del self.taps[channel]
