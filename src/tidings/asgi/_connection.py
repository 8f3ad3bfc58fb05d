"""One open SSE stream: its channel feeds, its writer, its timers.

Tasks per connection: the request's own task writes; one task per channel
pulls that channel's feed (the feed's catch-up reads are driven by its
consumer); one task waits for ``http.disconnect``. They run in one task
group, so a closed tab ends all of them at once and every feed is closed.

Each wake-up of the writer sends everything that is pending in ONE ``send``.
A channel task never has more than one batch waiting for the writer, so a
slow client backs up into the feed's bounded queue (which then resyncs from
history) instead of into memory here.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tidings._backend import Entry
from tidings._exceptions import BackendError, ClosedError, CursorExpiredError
from tidings._ids import IdKey, format_id, now_ms, parse_id
from tidings._subscription import Feed

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

    __slots__ = ("channel", "feed", "head", "index", "last_queued", "queued", "replaying", "start", "tag")

    def __init__(self, index: int, channel: str, feed: Feed, start: str) -> None:
        self.index = index
        self.channel = channel
        self.tag = channel_tag(channel)
        self.feed = feed
        self.start = start
        # Entries at or below the head the feed attached at are replay.
        self.head: IdKey = parse_id(feed.head_id)
        self.replaying = True
        self.last_queued = start
        self.queued = False  # a batch of this channel waits in the outbox


class Connection:
    """An SSE stream for ``channels`` of ``realtime``, from ``positions`` on."""

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
        self._positions = positions
        self._settings = settings
        self._frames = frames
        self._slots: list[_Slot] = []
        self._opening_notices: list[tuple[_Slot, _Notice]] = []
        self._outbox: list[tuple[_Slot, list[Entry] | _Notice]] = []
        # Bare futures, made only while someone waits: an idle connection
        # should not carry Events (each holds a deque of ~760 bytes).
        self._writer_waiting: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
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
        try:
            for index, channel in enumerate(self._channels):
                slot = await self._open_slot(index, channel, self._positions[channel])
                self._slots.append(slot)
        except BaseException:
            await self.close()
            raise
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

    def _wake_writer(self) -> None:
        waiter = self._writer_waiting
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for slot in self._slots:
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
        try:
            async with asyncio.TaskGroup() as group:
                children = [group.create_task(self._watch(receive))]
                children += [group.create_task(self._pump(slot)) for slot in self._slots]
                try:
                    await self._write(send)
                finally:
                    for child in children:
                        child.cancel()
        except asyncio.CancelledError:
            # The server gave up waiting (uvicorn's --timeout-graceful-shutdown):
            # still tell the client to come back, so it resumes elsewhere at once.
            if self._stop is not Stop.DISCONNECTED and not self._ended:
                self._ended = True
                await _send_last(send, reconnect_frame(now_ms() - 1))
            raise

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.stop(Stop.DISCONNECTED)
                return

    def _ping_tick(self) -> None:
        self._ping_due = True
        self._wake_writer()
        self._timers[0] = asyncio.get_running_loop().call_later(self._settings.ping_interval, self._ping_tick)

    async def _pump(self, slot: _Slot) -> None:
        """Move one channel's entries to the outbox, at most one batch ahead of the writer."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                item = await slot.feed.next_entry()
            except ClosedError:
                # The Realtime was closed under a live endpoint: send the
                # client elsewhere rather than fail the whole response.
                self._outbox.append((slot, _Notice("the event backend was closed")))
                self.stop(Stop.FAILED)
                return
            if item is None:
                return
            # Waiting here, not right after handing a batch over, keeps the
            # usual path at one wake-up of this task per batch: the writer
            # has normally taken the previous batch long before.
            while slot.queued:
                if self._room is None:
                    self._room = loop.create_future()
                await self._room
            if isinstance(item, BaseException):
                self._outbox.append((slot, _Notice(str(item))))
            else:
                batch = [item]
                batch.extend(slot.feed.drain_ready())
                if slot.replaying:
                    await self._queue_replay(slot, batch)
                else:
                    self._queue(slot, batch)
            slot.queued = bool(self._outbox)
            self._wake_writer()

    def _queue(self, slot: _Slot, batch: list[Entry]) -> None:
        if batch:
            self._outbox.append((slot, batch))
            slot.last_queued = batch[-1].id

    async def _queue_replay(self, slot: _Slot, batch: list[Entry]) -> None:
        """Count replayed entries; past ``max_replay``, skip the rest of the replay, loudly."""
        replayed = 0
        for entry in batch:
            if entry.key > slot.head:
                slot.replaying = False
                break
            replayed += 1
        if replayed <= self._replay_left:
            self._replay_left -= replayed
            self._queue(slot, batch)
            return
        self._queue(slot, batch[: self._replay_left])
        self._replay_left = 0
        skipped_after = slot.last_queued
        # Reading and dropping the rest would still cost the backend the whole
        # replay: start over from the live head instead.
        await slot.feed.close()
        try:
            slot.feed = await self._realtime._open_feed(slot.channel, None, None, None)
        except BackendError as exc:
            self._outbox.append((slot, _Notice(f"channel {slot.channel!r}: {exc}")))
            self.stop(Stop.FAILED)
            return
        slot.head = parse_id(slot.feed.head_id)
        slot.replaying = False
        limit = self._settings.max_replay
        text = (
            f"replay limit reached on channel {slot.channel!r}: one connection may replay at "
            f"most {limit} stored events (max_replay); the events after {skipped_after} up to "
            f"{slot.feed.head_id} were skipped, live delivery continues"
        )
        self._outbox.append((slot, _Notice(text, jump=slot.feed.head_id)))

    async def _write(self, send: Send) -> None:
        opening = [retry_frame(self._settings.retry_ms)] if self._settings.retry_ms else []
        cursor = encode_cursor(self._cursor_parts)
        for slot in self._slots:
            # The id line makes a plain EventSource resume from here even if
            # the stream drops before the first event.
            opening.append(with_id(cursor, connected_frame(slot.channel, slot.start)))
        for slot, notice in self._opening_notices:
            opening.append(self._notice_frame(slot, notice))
        if not await _send(send, b"".join(opening)):
            self.stop(Stop.DISCONNECTED)
            return
        loop = asyncio.get_running_loop()
        while True:
            while not self._outbox and not self._ping_due and self._stop is None:
                self._writer_waiting = loop.create_future()
                try:
                    await self._writer_waiting
                finally:
                    self._writer_waiting = None
            if self._stop is Stop.DISCONNECTED:
                return
            chunks = self._take_pending()
            if self._stop is not None:
                # Clients resume by id (each channel's connected frame gave
                # one); the timestamp is only the protocol's fallback, 1 ms
                # early so that it errs toward a duplicate, never a loss.
                chunks.append(reconnect_frame(now_ms() - 1))
                self._ended = True
                await _send_last(send, b"".join(chunks))
                return
            if not await _send(send, b"".join(chunks)):
                self.stop(Stop.DISCONNECTED)
                return

    def _take_pending(self) -> list[bytes]:
        items, self._outbox = self._outbox, []
        for slot in self._slots:
            slot.queued = False
        # Let every channel task hand over its next batch while this one is sent.
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)
        chunks: list[bytes] = []
        single = len(self._slots) == 1
        parts = self._cursor_parts
        frames = self._frames
        for slot, payload in items:
            if isinstance(payload, _Notice):
                chunks.append(self._notice_frame(slot, payload))
                continue
            if single:
                for entry in payload:
                    chunks.append(frames.frame(entry, slot.tag)[1])
                parts[0] = slot.tag + payload[-1].id
                continue
            for entry in payload:
                parts[slot.index] = slot.tag + entry.id
                chunks.append(with_id(encode_cursor(parts), frames.frame(entry, slot.tag)[0]))
        if self._ping_due:
            self._ping_due = False
            chunks.append(ping_frame(now_ms()))
        return chunks

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
