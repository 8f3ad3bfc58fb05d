"""One backend subscription per channel, shared by the native server's single-channel streams.

Every stream on ONE channel sends the same bytes for an event: the frame, and
its ``id:`` line too (the cursor of a one-channel stream is the channel's tag
and the event id). So once such a stream is in step with the channel, it needs
no feed of its own: a ``ChannelTap`` holds one ``Feed`` for the channel, builds
each batch's chunk once, and writes it to every member. An event then costs
one backend callback and one loop over the members -- a check and a
``transport.write`` each -- instead of a feed callback, a wake-up and a flush
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

The endpoint makes a channel's tap when a second stream arrives (one stream
gains nothing from it); it closes when its last stream leaves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from tidings._backend import Entry
from tidings._exceptions import ClosedError
from tidings._feed import Feed

from ._cursor import channel_tag
from ._frames import FrameCache, error_frame

if TYPE_CHECKING:
    from tidings._realtime import Realtime

    from ._native import NativeConnection

logger = logging.getLogger("tidings.asgi")


def chunk(body: bytes) -> bytes:
    """``body`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(body), body)


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
        # Streams on this channel still on their own feed; they join once in step.
        self.candidates: set[NativeConnection] = set()
        # A dict, not a set: members are written in the order they joined.
        self.members: dict[NativeConnection, None] = {}
        # Members that had to leave (a full socket): for tests and metrics.
        self.left = 0
        self._scheduled = False
        self._reading = False
        self._starting = False
        self._closed = False

    @property
    def empty(self) -> bool:
        return not self.members and not self.candidates

    def add(self, connection: NativeConnection) -> None:
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

    async def leave(self, connection: NativeConnection) -> None:
        """``connection`` closed; the tap closes with its last stream."""
        self.members.pop(connection, None)
        self.candidates.discard(connection)
        if self.empty and not self._closed:
            self._closed = True
            if self._feed is not None:
                self._feed.set_waker(None)
                await self._feed.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- joining -------------------------------------------------------------------

    def try_join(self, connection: NativeConnection) -> bool:
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
        own.set_waker(None)
        # Closed in the background: once ``closed`` is set (at once) the feed takes nothing more.
        self._spawn(own.close())
        connection.joined(self)
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
            data = chunk(error_frame(str(item)))
        elif item:
            single = self._frames.single
            tag = self._tag
            data = chunk(b"".join([single(entry, tag) for entry in item]))
            position = item[-1].id
        else:
            data = b""
        if data:
            self._write_all(data)
        self._position = position
        assert self._feed is not None
        if self._feed.has_work:
            self._wake()
        elif self.candidates:
            self._join_ready()

    def _write_all(self, data: bytes) -> None:
        leaving: list[NativeConnection] = []
        # The hot loop: one check and one write per member.
        for connection in self.members:
            # A stream that is ending still gets what came before its last frame.
            if connection._paused or connection._ended or connection._transport is None:
                leaving.append(connection)
            else:
                connection._transport.write(data)
        for connection in leaving:
            # Not written this batch: it resumes from what it was last sent.
            del self.members[connection]
            self.left += 1
            connection.left(self, self._position)

    def _fail_all(self, text: str) -> None:
        members, self.members = self.members, {}
        for connection in members:
            connection.failed(text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
