"""One open SSE stream: its channel feeds, its writer, its timers.

Two tasks per connection, whatever the number of channels: the request's own
task writes, and one task waits for ``http.disconnect``. The channels' feeds
wake the writer through a callback (``Feed.set_waker``) instead of each
having a task of its own: an idle stream costs no extra task per channel, and
a delivery costs one wake-up of the writer, not two. The writer also drives
each feed's catch-up reads (``Feed.pull``).

Each wake-up of the writer takes everything pending on every channel and
sends it in ONE ``send``. While a send waits for a slow client, nothing is
taken from the feeds, so the client backs up into each feed's bounded queue
(which then resyncs from history) instead of into memory here.

``_native.NativeConnection`` reuses all of this without a task: its server
calls ``take_ready`` (or awaits ``_take`` only when a history read is due),
``finish`` and ``opening``, and writes to the socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tidings._backend import Entry
from tidings._exceptions import BackendError, ClosedError, CursorExpiredError
from tidings._feed import Feed
from tidings._ids import IdKey, format_id, now_ms, parse_id

from ._cursor import channel_tag, encode_cursor
from ._frames import (
    FrameCache,
    connected_frame,
    error_frame,
    ping_frame,
    reconnect_frame,
    retry_frame,
    with_id,
)
from ._settings import StreamSettings
from ._types import Receive, Send

if TYPE_CHECKING:
    from tidings._realtime import Realtime

_MAX_REOPEN = 3


class Stop(enum.Enum):
    DISCONNECTED = "disconnected"  # the client went away: write nothing more
    EXPIRED = "expired"  # max_duration reached: reconnect frame, then close
    SHUTDOWN = "shutdown"  # the endpoint shuts down: reconnect frame, then close
    FAILED = "failed"  # the backend failed beyond recovery: reconnect frame, then close


class _Notice:
    """An error frame for the client; ``jump`` is the channel's new position when events were skipped."""

    __slots__ = ("jump", "text")

    def __init__(self, text: str, jump: str | None = None) -> None:
        self.text = text
        self.jump = jump


class _Slot:
    """One channel of a connection."""

    __slots__ = ("channel", "feed", "finished", "head", "index", "last_sent", "replaying", "start", "tag")

    def __init__(self, index: int, channel: str, feed: Feed, start: str) -> None:
        self.index = index
        self.channel = channel
        self.tag = channel_tag(channel)
        self.feed = feed
        self.start = start
        # Entries at or below the head the feed attached at are replay.
        self.head: IdKey = parse_id(feed.head_id)
        # Nothing stored after the start is replay: live from the first entry.
        self.replaying = parse_id(start) < self.head
        self.last_sent = start
        self.finished = False  # the feed ended: nothing more to take from it


class Connection:
    """An SSE stream for ``channels`` of ``realtime``, from ``positions`` on."""

    __slots__ = (
        "__weakref__",
        "_channels",
        "_cursor_parts",
        "_dirty",
        "_ended",
        "_frames",
        "_opening_notices",
        "_ping_due",
        "_positions",
        "_realtime",
        "_replay_left",
        "_settings",
        "_slots",
        "_stop",
        "_timers",
        "_writer_waiting",
    )

    def __init__(
        self,
        realtime: Realtime,
        channels: Sequence[str],
        positions: dict[str, IdKey | None],
        settings: StreamSettings,
        frames: FrameCache,
    ) -> None:
        self._realtime = realtime
        self._channels = tuple(channels)
        self._positions: dict[str, IdKey | None] | None = positions
        self._settings = settings
        self._frames = frames
        self._slots: list[_Slot] = []
        self._opening_notices: list[tuple[_Slot, _Notice]] = []
        # A feed has something for the writer (set by the feeds' waker).
        self._dirty = False
        # A bare future, made only while the writer waits: an idle connection
        # should not carry Events (each holds a deque of ~760 bytes).
        self._writer_waiting: asyncio.Future[None] | None = None
        self._ping_due = False
        self._replay_left = settings.max_replay
        self._stop: Stop | None = None
        self._cursor_parts: list[str] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._ended = False

    # -- life cycle ----------------------------------------------------------------

    @property
    def subscriptions(self) -> int:
        return sum(1 for slot in self._slots if not slot.feed.closed)

    async def open(self) -> None:
        """Attach every channel's feed; on return, every subscription is live.

        Raises ``BackendError`` if the backend cannot be reached (nothing is
        left open then).
        """
        positions = self._positions
        assert positions is not None
        try:
            for index, channel in enumerate(self._channels):
                slot = await self._open_slot(index, channel, positions[channel])
                self._slots.append(slot)
        except BaseException:
            await self.close()
            raise
        self._positions = None  # not needed any more: an idle stream keeps less
        self._cursor_parts = [slot.tag + slot.start for slot in self._slots]

    async def _open_slot(self, index: int, channel: str, position: IdKey | None) -> _Slot:
        after = None if position is None else format_id(position)
        notice: _Notice | None = None
        for _ in range(_MAX_REOPEN):
            try:
                feed = await self._realtime._open_feed(channel, None, None, after)
                break
            except CursorExpiredError as exc:
                # Resuming where the client asked would skip trimmed events:
                # say so, then resume from the oldest event still stored.
                notice = _Notice(
                    f"events lost on channel {channel!r}: history no longer holds the events "
                    f"after {exc.cursor} (oldest retained: {exc.oldest}); resuming from there"
                )
                after = exc.removed_up_to
        else:
            raise BackendError(f"channel {channel!r}: history kept being trimmed while resuming")
        feed.set_waker(self._on_feed)
        slot = _Slot(index, channel, feed, after if after is not None else feed.head_id)
        if notice is not None:
            notice.jump = slot.start
            self._opening_notices.append((slot, notice))
        return slot

    def stop(self, reason: Stop) -> None:
        """Ask the stream to end (the first reason given wins)."""
        if self._stop is None:
            self._stop = reason
            self._wake_writer()

    def _on_feed(self) -> None:
        # Called by a feed, synchronously, on every delivery: keep it short.
        # Once dirty, the writer has been woken (or is running) and will look.
        if self._dirty:
            return
        self._dirty = True
        waiter = self._writer_waiting
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _client_gone(self) -> bool:
        return self._stop is Stop.DISCONNECTED

    def _wake_writer(self) -> None:
        waiter = self._writer_waiting
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for slot in self._slots:
            slot.feed.set_waker(None)
            await slot.feed.close()

    # -- streaming -------------------------------------------------------------------

    async def run(self, receive: Receive, send: Send) -> None:
        """Write frames until the client leaves, ``stop()`` is called, or time is up.

        The response has already started; this sends its body and ends it.
        """
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self._settings.ping_interval, self._ping_tick))
        if self._settings.max_duration is not None:
            self._timers.append(loop.call_later(self._settings.max_duration, self.stop, Stop.EXPIRED))
        # Replayed history, and whatever arrived since open(), is waiting.
        self._dirty = True
        watcher = loop.create_task(self._watch(receive))
        try:
            try:
                await self._write(send)
            finally:
                watcher.cancel()
                await asyncio.wait([watcher])
        except asyncio.CancelledError:
            # The server gave up waiting (uvicorn's --timeout-graceful-shutdown):
            # still tell the client to come back, so it resumes elsewhere at once.
            if self._stop is not Stop.DISCONNECTED and not self._ended:
                self._ended = True
                await _send_last(send, reconnect_frame(now_ms() - 1))
            raise
        if not watcher.cancelled() and watcher.exception() is not None:
            raise watcher.exception()  # type: ignore[misc]

    async def _watch(self, receive: Receive) -> None:
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
        except Exception:
            # receive() failed: the writer must not wait forever (run() re-raises).
            self.stop(Stop.DISCONNECTED)
            raise
        self.stop(Stop.DISCONNECTED)

    def _ping_tick(self) -> None:
        self._ping_due = True
        self._wake_writer()
        self._timers[0] = asyncio.get_running_loop().call_later(self._settings.ping_interval, self._ping_tick)

    async def _write(self, send: Send) -> None:
        if not await _send(send, self.opening()):
            self.stop(Stop.DISCONNECTED)
            return
        loop = asyncio.get_running_loop()
        while True:
            while not self._dirty and not self._ping_due and self._stop is None:
                self._writer_waiting = loop.create_future()
                try:
                    await self._writer_waiting
                finally:
                    self._writer_waiting = None
            if self._stop is Stop.DISCONNECTED:
                return
            chunks: list[bytes] = []
            if self._dirty:
                self._dirty = False
                await self._take(chunks)
                if self._client_gone():
                    return
            if self.finish(chunks):
                await _send_last(send, b"".join(chunks))
                return
            if chunks and not await _send(send, b"".join(chunks)):
                self.stop(Stop.DISCONNECTED)
                return

    def opening(self) -> bytes:
        """The start of the body: retry, one connected frame per channel, opening notices."""
        opening = [retry_frame(self._settings.retry_ms)] if self._settings.retry_ms else []
        cursor = encode_cursor(self._cursor_parts)
        for slot in self._slots:
            # The id line makes a plain EventSource resume from here even if
            # the stream drops before the first event.
            opening.append(with_id(cursor, connected_frame(slot.channel, slot.start)))
        for slot, notice in self._opening_notices:
            opening.append(self._notice_frame(slot, notice))
        self._opening_notices = []
        return b"".join(opening)

    def finish(self, chunks: list[bytes]) -> bool:
        """Add a due ping, and the reconnect frame if the stream ends (then True: the last write)."""
        if self._ping_due:
            self._ping_due = False
            chunks.append(ping_frame(now_ms()))
        if self._stop is None:
            return False
        # Clients resume by id (each channel's connected frame gave one); the
        # timestamp is only the protocol's fallback, 1 ms early so that it
        # errs toward a duplicate, never a loss.
        chunks.append(reconnect_frame(now_ms() - 1))
        self._ended = True
        return True

    async def _take(self, chunks: list[bytes]) -> None:
        """Append to ``chunks`` the frames of everything the feeds have for us now."""
        for slot in self._slots:
            if slot.finished or not slot.feed.has_work:
                continue
            try:
                item = await slot.feed.pull()
            except ClosedError:
                # The Realtime was closed under a live endpoint: send the
                # client elsewhere rather than fail the whole response.
                slot.finished = True
                chunks.append(self._notice_frame(slot, _Notice("the event backend was closed")))
                self.stop(Stop.FAILED)
                continue
            if slot.replaying and isinstance(item, list):
                await self._add_replay(slot, item, chunks)
                self._more(slot)
            else:
                self._add_item(slot, item, chunks)

    def take_ready(self, chunks: list[bytes]) -> bool:
        """``_take`` without awaiting, for writers without a task of their own.

        False, having taken nothing, if a feed needs an await (a history read,
        or a replay, which may have to reopen it): then ``await _take`` instead.
        """
        slots = self._slots
        for slot in slots:
            if not slot.finished and slot.feed.has_work and (slot.replaying or slot.feed.needs_read):
                return False
        for slot in slots:
            if not slot.finished and slot.feed.has_work:
                self._add_item(slot, slot.feed.pull_ready(), chunks)
        return True

    def _add_item(self, slot: _Slot, item: list[Entry] | BaseException | None, chunks: list[bytes]) -> None:
        """A live batch, a problem, or the end of a feed (None)."""
        if item is None:
            slot.finished = True
            return
        if isinstance(item, BaseException):
            chunks.append(self._notice_frame(slot, _Notice(str(item))))
        else:
            self._add_frames(slot, item, chunks)
        self._more(slot)

    def _more(self, slot: _Slot) -> None:
        if not slot.finished and slot.feed.has_work:
            # More to read (a catch-up page at a time): come back after this write.
            self._dirty = True

    def _add_frames(self, slot: _Slot, entries: list[Entry], chunks: list[bytes]) -> None:
        if not entries:
            return
        frames = self._frames
        tag = slot.tag
        parts = self._cursor_parts
        if len(parts) == 1:
            # One channel: the id line is the same for every connection, so
            # the whole frame comes from the shared cache.
            single = frames.single
            chunks += [single(entry, tag) for entry in entries]
            parts[0] = tag + entries[-1].id
        else:
            bare = frames.bare
            index = slot.index
            for entry in entries:
                parts[index] = tag + entry.id
                chunks.append(with_id(encode_cursor(parts), bare(entry)))
        slot.last_sent = entries[-1].id

    async def _add_replay(self, slot: _Slot, batch: list[Entry], chunks: list[bytes]) -> None:
        """Count replayed entries; past ``max_replay``, skip the rest of the replay, loudly."""
        replayed = 0
        for entry in batch:
            if entry.key > slot.head:
                slot.replaying = False
                break
            replayed += 1
        if replayed <= self._replay_left:
            self._replay_left -= replayed
            self._add_frames(slot, batch, chunks)
            return
        self._add_frames(slot, batch[: self._replay_left], chunks)
        self._replay_left = 0
        skipped_after = slot.last_sent
        # Reading and dropping the rest would still cost the backend the whole
        # replay: start over from the live head instead.
        slot.feed.set_waker(None)
        await slot.feed.close()
        try:
            slot.feed = await self._realtime._open_feed(slot.channel, None, None, None)
        except BackendError as exc:
            slot.finished = True
            chunks.append(self._notice_frame(slot, _Notice(f"channel {slot.channel!r}: {exc}")))
            self.stop(Stop.FAILED)
            return
        slot.feed.set_waker(self._on_feed)
        slot.head = parse_id(slot.feed.head_id)
        slot.replaying = False
        limit = self._settings.max_replay
        text = (
            f"replay limit reached on channel {slot.channel!r}: one connection may replay at "
            f"most {limit} stored events (max_replay); the events after {skipped_after} up to "
            f"{slot.feed.head_id} were skipped, live delivery continues"
        )
        chunks.append(self._notice_frame(slot, _Notice(text, jump=slot.feed.head_id)))

    def _notice_frame(self, slot: _Slot, notice: _Notice) -> bytes:
        frame = error_frame(notice.text)
        if notice.jump is None:
            return frame
        # Skipped events are skipped for good: the cursor moves past them, so
        # a reconnect does not run into the same loss again.
        self._cursor_parts[slot.index] = slot.tag + notice.jump
        return with_id(encode_cursor(self._cursor_parts), frame)


async def _send(send: Send, body: bytes) -> bool:
    """Send a body chunk; False if the client is gone (servers that raise on a closed socket)."""
    try:
        await send({"type": "http.response.body", "body": body, "more_body": True})
    except OSError:
        return False
    return True


async def _send_last(send: Send, body: bytes) -> None:
    """End the response with ``body``, if the client and server still let us."""
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": body, "more_body": False})
