"""Channel taps: one backend subscription per channel, shared by the streams on it.

Every stream on a channel is sent the same events. So once a stream is in
step with the channel, it needs no feed of its own for it: a ``ChannelTap``
holds one ``Feed`` for the channel, builds each batch's frames once, and
writes it to every member. An event then costs one backend callback and one
loop over the members -- a check and a write each -- instead of a feed
callback, a wake-up and a flush per stream.

A stream on several channels ({A, B}) is a member of A's tap and of B's: a
channel of a stream (a slot of its ``Connection``) is either read from its
own feed or written by its channel's tap, each channel on its own. A
one-channel stream's frames, ``id:`` line included, are the same for every
such member (``Connection.offer``); a several-channel stream's ``id:`` line
holds every channel's position, so the tap hands it the batch's frames
without id lines and the stream puts its own before each
(``Connection.offer_framed``), from the positions it has written so far on
every channel: a resume from any frame's id has no gap and no duplicate.

Nothing else changes for a stream. It opens with its own feeds (replay,
``Last-Event-ID`` resumption, the replay limit), and a channel joins its tap
only when the stream has nothing pending and both feeds are settled at the
same position (``Feed.settled``): from then on the tap's feed hands out
exactly what the stream's own would have, so the switch has no gap and no
duplicate. A member whose writer is not ``writable`` (a full socket, a send
buffer over its limit) is not written to: it leaves EVERY tap it is a member
of, each channel at the position it was written up to, and reopens feeds of
its own from there, which catch up from history -- and say so if history no
longer holds the events. It joins again once back in step. Resets of the
backend's live feed (a Redis reconnect) are caught up once, by the tap's
feed, for every member.

``Taps`` (``_taps``, one per endpoint) makes a channel's tap when a second
stream on it arrives (one stream gains nothing from it); it closes when its
last stream leaves. Both servers use them: the native one, and any ASGI
server through ``SendWriter``, whose ``writable`` is a byte limit on what it
holds, not "no send in progress".
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

from ._connection import Connection
from ._cursor import channel_tag
from ._frames import error_frame

if TYPE_CHECKING:
    from ._taps import Taps

logger = logging.getLogger("tidings.asgi")


class ChannelTap:
    """The shared feed of one channel and the streams it writes to."""

    __slots__ = (
        "_closed",
        "_feed",
        "_frames",
        "_owner",
        "_position",
        "_reading",
        "_realtime",
        "_scheduled",
        "_stand_in",
        "_starting",
        "_tag",
        "_tasks",
        "candidates",
        "channel",
        "left",
        "several",
        "single",
    )

    def __init__(self, owner: Taps, channel: str) -> None:
        self._owner = owner
        realtime, frames, tasks = owner._realtime, owner._frames, owner._tasks
        self.channel = channel
        self._realtime = realtime
        self._frames = frames
        self._tasks = tasks  # kept referenced until done (the endpoint's)
        self._tag = channel_tag(channel)
        self._feed: Feed | None = None
        # What a joined stream keeps as its channel's feed: closed, never started,
        # shared by every member, so a member does not keep its own closed feed.
        self._stand_in: Feed | None = None
        # The id of the last entry written to every member.
        self._position = ""
        # Streams on this channel on their own feed (or reopening it); they join once in step.
        # Each with the index of the channel among its channels.
        self.candidates: dict[Connection, int] = {}
        # Members, written in the order they joined: one-channel streams (``offer``:
        # the same bytes for all, so the native writer frames the chunk once too, as
        # long as no other body is written in between), then the streams on several
        # channels (``offer_framed``), each with the channel's index among its channels.
        self.single: dict[Connection, None] = {}
        self.several: dict[Connection, int] = {}
        # Members that had to leave (a full socket): for tests and metrics.
        self.left = 0
        self._scheduled = False
        self._reading = False
        self._starting = False
        self._closed = False
        COUNTERS.taps += 1

    @property
    def empty(self) -> bool:
        return not self.single and not self.several and not self.candidates

    @property
    def members(self) -> dict[Connection, int]:
        """Every member, with its channel index (-1: a one-channel stream); a copy, for checks."""
        return {**dict.fromkeys(self.single, -1), **self.several}

    def add(self, connection: Connection, index: int) -> None:
        """A new stream on this channel (its channel ``index``), still on its own feed."""
        self.candidates[connection] = index
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
        stand_in = Feed(self._realtime.backend, self.channel, events=None, capacity=1, page_size=1)
        await stand_in.close()  # never started: nothing to detach
        self._stand_in = stand_in
        self._feed = feed
        self._position = feed.last_id
        feed.set_waker(self._wake)
        self._join_ready()

    async def leave(self, connection: Connection) -> None:
        """``connection`` closed; the tap closes with its last stream."""
        if connection in self.single or connection in self.several:
            COUNTERS.tap_members -= 1
        self.single.pop(connection, None)
        self.several.pop(connection, None)
        self.candidates.pop(connection, None)
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
        """Move ``connection``'s channel onto the shared feed if both are in step now."""
        feed = self._feed
        if feed is None or self._scheduled or self._reading or not feed.settled:
            return False
        index = self.candidates.get(connection)
        if index is None or not connection.in_step():
            return False
        own = connection.own_feed(index)
        if own is None or not own.settled or own.position != feed.position:
            return False
        del self.candidates[connection]
        if len(connection.channels) == 1:
            self.single[connection] = None
        else:
            self.several[connection] = index
        COUNTERS.tap_members += 1
        own.set_waker(None)
        # Closed in the background: once ``closed`` is set (at once) the feed takes nothing more.
        self._spawn(own.close())
        assert self._stand_in is not None
        connection.joined(index, self._stand_in)
        return True

    def _join_ready(self) -> None:
        for connection in list(self.candidates):
            self.try_join(connection)

    def evict(self, connection: Connection) -> bool:
        """Take a member off (its writer is full): its channel resumes after this tap's position."""
        if connection in self.single:
            del self.single[connection]
            index = 0
        elif connection in self.several:
            index = self.several.pop(connection)
        else:
            return False
        self.left += 1
        COUNTERS.tap_members -= 1
        self.candidates[connection] = index
        connection.left(index, self._position)
        return True

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
        if isinstance(item, BaseException):
            written = self._write_all(error_frame(str(item)), None)
            if isinstance(item, EventsLostError):
                COUNTERS.events_lost_notices += written
        elif item:
            # Counted per batch: every member written got every entry.
            COUNTERS.deliveries += self._write_all(None, item) * len(item)
            self._position = item[-1].id
        assert self._feed is not None
        if self._feed.has_work:
            self._wake()
        elif self.candidates:
            self._join_ready()

    def _write_all(self, notice: bytes | None, entries: list[Entry] | None) -> int:
        """Write a batch (or a notice without id line) to every member; how many took it.

        The ones not writable leave.
        """
        leaving: list[Connection] = []
        # The hot loops: one check and one write per member.
        if self.single:
            data = notice if notice is not None else self._single(entries or [])
            for connection in self.single:
                # A stream that is ending still gets what came before its last frame.
                if not connection.offer(data):
                    leaving.append(connection)
        if self.several:
            if notice is not None:
                for connection in self.several:
                    if not connection.offer(notice):
                        leaving.append(connection)
            else:
                # The frames without id lines, built once: each stream puts its own before them.
                framed = self._bare(entries or [])
                last = entries[-1].id if entries else self._position
                for connection, index in self.several.items():
                    if not connection.offer_framed(index, framed, last):
                        leaving.append(connection)
        for connection in leaving:
            # Not written this batch: it resumes from what it was last sent (on
            # every channel), and may join again once back in step.
            self._owner.evict(connection)
        return len(self.single) + len(self.several)

    def _single(self, entries: list[Entry]) -> bytes:
        single = self._frames.single
        tag = self._tag
        return b"".join([single(entry, tag) for entry in entries])

    def _bare(self, entries: list[Entry]) -> list[tuple[bytes, bytes]]:
        frame = self._frames.frame
        tag = self._tag
        return [((tag + entry.id).encode("ascii"), frame(entry, tag)[0]) for entry in entries]

    def _fail_all(self, text: str) -> None:
        single, several = self.single, self.several
        self.single, self.several = {}, {}
        COUNTERS.tap_members -= len(single) + len(several)
        for connection in single:
            connection.failed(0, text)
        for connection, index in several.items():
            connection.failed(index, text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
