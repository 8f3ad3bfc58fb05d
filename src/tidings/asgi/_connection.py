"""One open SSE stream: its channel feeds, its frames and cursors, its pings and its end.

Everything the protocol says about a stream is here, once, whatever server
carries it: the server hands ``start()`` a ``StreamWriter`` (``_writer``) and
only moves bytes. The channels' feeds wake the stream through a callback
(``Feed.set_waker``) instead of each having a task of its own; the stream
then asks its endpoint's ``Pacer`` for a flush, and ONE callback per loop
iteration flushes every stream that asked. A flush takes everything pending
on every channel and writes it with ONE ``write``; only a history read
(replay, catch-up) is awaited, in a short task of that stream.

While the writer is not ``writable`` (a full socket, too much waiting for a send),
nothing is taken from the feeds, so the client backs up into each feed's
bounded queue (which then resyncs from history) instead of into memory here.

Any channel of a stream can also be written by a shared feed instead of its
own (a channel tap, ``_tap``): ``in_step``, ``own_feed``, ``joined``,
``offer``/``offer_framed``, ``left``/``reopen`` and ``failed`` are that
hand-over. A channel so written is a ``shared`` slot; one that left its tap
and waits to reopen a feed of its own is ``out``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tidings._backend import Entry
from tidings._counters import COUNTERS
from tidings._exceptions import BackendError, ClosedError, CursorExpiredError, EventsLostError
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
from ._pacer import Pacer
from ._settings import StreamSettings
from ._writer import StreamWriter

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.asgi")

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

    __slots__ = (
        "channel",
        "feed",
        "finished",
        "head",
        "index",
        "last_sent",
        "out",
        "replaying",
        "shared",
        "start",
        "tag",
    )

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
        # A channel tap writes this channel (``feed`` is closed): nothing to take from it.
        self.shared = False
        # Left its tap: ``feed`` is closed until ``_reopen`` opens a new one from ``last_sent``.
        self.out = False

    @property
    def away(self) -> bool:
        """Not read through ``feed`` now (a tap writes the channel, or it waits to reopen)."""
        return self.shared or self.out


class Connection:
    """An SSE stream for ``channels`` of ``realtime``, from ``positions`` on."""

    __slots__ = (
        "__weakref__",
        "_channels",
        "_cursor_parts",
        "_dirty",
        "_ended",
        "_frames",
        "_id_line",
        "_opening_notices",
        "_pacer",
        "_ping_due",
        "_positions",
        "_pulling",
        "_realtime",
        "_replay_left",
        "_scheduled",
        "_settings",
        "_slots",
        "_stop",
        "_writer",
        "on_caught_up",
    )

    def __init__(
        self,
        realtime: Realtime,
        channels: Sequence[str],
        positions: dict[str, IdKey | None],
        settings: StreamSettings,
        frames: FrameCache,
        pacer: Pacer,
    ) -> None:
        self._realtime = realtime
        self._channels = tuple(channels)
        self._positions: dict[str, IdKey | None] | None = positions
        self._settings = settings
        self._frames = frames
        self._pacer = pacer
        self._slots: list[_Slot] = []
        self._opening_notices: list[tuple[_Slot, _Notice]] = []
        self._writer: StreamWriter | None = None
        # A feed has something for the writer (set by the feeds' waker).
        self._dirty = False
        # Waiting in the pacer's flush: asked once until flushed.
        self._scheduled = False
        self._ping_due = False
        self._pulling: asyncio.Task[None] | None = None
        self._replay_left = settings.max_replay
        self._stop: Stop | None = None
        self._cursor_parts: list[str] = []
        # A tap's channel index, and the id line's bytes before and after that
        # channel's part: kept until another channel's part moves (see offer_framed).
        self._id_line: tuple[int, bytes, bytes] | None = None
        self._ended = False  # the last frame is written: nothing may follow it
        # Called after a write that left the stream in step with its channel (see in_step).
        self.on_caught_up: Callable[[Connection], object] | None = None

    # -- life cycle ----------------------------------------------------------------

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    @property
    def writer(self) -> StreamWriter | None:
        """What the stream writes to, from ``start()`` until ``close()``."""
        return self._writer

    @property
    def subscriptions(self) -> int:
        return sum(1 for slot in self._slots if slot.shared or not slot.feed.closed)

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

    def start(self, writer: StreamWriter) -> None:
        """Write the opening (retry, a connected frame per channel, notices), then write to ``writer``.

        The response head is the server's: it has gone out, or goes out with this first write.
        """
        self._writer = writer
        writer.write(self._opening())
        self._pacer.started(self)
        # Replayed history, and whatever arrived since open(), is waiting.
        self._dirty = True
        self._wake()

    def stop(self, reason: Stop) -> None:
        """Ask the stream to end with a ``reconnect`` frame (the first reason given wins)."""
        if self._stop is None:
            self._stop = reason
            self._wake()

    def expire(self) -> None:
        self.stop(Stop.EXPIRED)

    def ping(self) -> None:
        """A ping frame goes out with the next write."""
        self._ping_due = True
        self._wake()

    def resumed(self) -> None:
        """The writer is writable again: take what piled up meanwhile."""
        if self._dirty:
            self._wake()
        elif self.on_caught_up is not None and self._pulling is None:
            # Caught up while the writer held too much to join a tap (an ASGI
            # send in progress): it may join now.
            self.on_caught_up(self)

    def lost(self) -> None:
        """The client is gone: write nothing more (the server releases the stream)."""
        self._stop = Stop.DISCONNECTED

    def abandon(self) -> None:
        """The server stops carrying the stream (it gave up waiting for it): end it now with ``reconnect``.

        Nothing more is taken from the feeds; the client resumes elsewhere at once.
        """
        if self._writer is not None and self._stop is not Stop.DISCONNECTED and not self._ended:
            self._ended = True
            self._writer.end(reconnect_frame(now_ms() - 1))

    def abort(self) -> None:
        """Cut the connection after a failure (no ``reconnect`` frame: the client sees a broken stream)."""
        if self._writer is not None and not self._ended:
            self._ended = True
            self._writer.abort()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer = None
            self._pacer.closed(self)
        for slot in self._slots:
            slot.feed.set_waker(None)
            await slot.feed.close()

    def _on_feed(self) -> None:
        # Called by a feed, synchronously, on every delivery: keep it short.
        # Once dirty, a flush is due (or running) and will look.
        if self._dirty:
            return
        self._dirty = True
        self._wake()

    def _wake(self) -> None:
        writer = self._writer
        if not self._scheduled and writer is not None:
            self._scheduled = True
            if not writer.due():
                self._pacer.mark(self)

    # -- writing ---------------------------------------------------------------------

    def flush(self) -> None:
        """Write what the feeds have now, a due ping, and the reconnect frame if ending (the pacer's call)."""
        self._scheduled = False
        writer = self._writer
        if writer is None or self._pulling is not None or self._ended or self._stop is Stop.DISCONNECTED:
            return
        chunks: list[bytes] = []
        if self._dirty and writer.writable:
            self._dirty = False
            if not self._take_ready(chunks):
                self._pulling = asyncio.get_running_loop().create_task(self._pull())
                return
        self._write_out(chunks)

    async def _pull(self) -> None:
        chunks: list[bytes] = []
        try:
            await self._take(chunks)
        except Exception:
            logger.exception("tidings.asgi: reading history for a stream failed; closing it")
            self.abort()
            return
        finally:
            self._pulling = None
        self._write_out(chunks)
        self.reopen()  # a channel that left its tap meanwhile waited for this read

    def _write_out(self, chunks: list[bytes]) -> None:
        writer = self._writer
        if writer is None or self._stop is Stop.DISCONNECTED or self._ended:
            return  # gone, or the last frame is written: nothing may follow it
        if self._ping_due:
            self._ping_due = False
            chunks.append(ping_frame(now_ms()))
        if self._stop is not None:
            # Clients resume by id (each channel's connected frame gave one); the
            # timestamp is only the protocol's fallback, 1 ms early so that it
            # errs toward a duplicate, never a loss.
            chunks.append(reconnect_frame(now_ms() - 1))
            self._ended = True
            writer.end(b"".join(chunks))
            return
        if chunks:
            writer.write(b"".join(chunks))
        if self._dirty and writer.writable:
            self._wake()  # more to read (a catch-up page at a time): come back after this write
        elif self.on_caught_up is not None:
            self.on_caught_up(self)

    def _opening(self) -> bytes:
        opening = [retry_frame(self._settings.retry_ms)] if self._settings.retry_ms else []
        cursor = encode_cursor(self._cursor_parts)
        for slot in self._slots:
            # The id line makes a plain EventSource resume from here even if
            # the stream drops before the first event.
            opening.append(with_id(cursor, connected_frame(slot.channel, slot.start)))
        for slot, notice in self._opening_notices:
            opening.append(self._notice_frame(slot, notice))
        COUNTERS.events_lost_notices += len(self._opening_notices)
        self._opening_notices = []
        return b"".join(opening)

    # -- shared feeds (channel taps) ------------------------------------------------

    def in_step(self) -> bool:
        """Nothing pending, nothing blocking: a channel on its own feed could switch feeds now."""
        writer = self._writer
        return (
            writer is not None
            and writer.writable
            and self._stop is None
            and self._pulling is None
            and not self._dirty
            and not any(slot.out for slot in self._slots)
        )

    def own_feed(self, index: int) -> Feed | None:
        """The feed of channel ``index``, unless it is not read now (a tap writes it, or it is out)."""
        slot = self._slots[index]
        return None if slot.away or slot.finished else slot.feed

    def joined(self, index: int, stand_in: Feed) -> None:
        """A shared feed writes channel ``index`` from now on (its own feed is being closed).

        ``stand_in`` (a closed feed the tap's members share) replaces the
        channel's own: an idle member then keeps no feed of its own at all.
        """
        slot = self._slots[index]
        slot.shared = True
        slot.feed = stand_in

    def offer(self, body: bytes) -> bool:
        """Write ``body`` from a shared feed if the writer takes it now; False, writing nothing, if not.

        For a one-channel stream (``body`` carries the channel's own ``id:``
        lines, the same for every stream), or a frame without an id line.
        """
        writer = self._writer
        if writer is None or self._ended or not writer.writable:
            return False
        writer.write(body)
        return True

    def offer_framed(self, index: int, frames: list[tuple[bytes, bytes]], last_id: str) -> bool:
        """``offer`` for a stream on several channels: a batch of channel ``index``.

        ``frames`` are ``(tag + id, frame without id line)`` per entry, built
        once by the tap; only the ``id:`` lines are this stream's: each holds
        every channel's position as of that frame.
        """
        writer = self._writer
        if writer is None or self._ended or not writer.writable:
            return False
        parts = self._cursor_parts
        id_line = self._id_line
        if id_line is None or id_line[0] != index:
            # Measured (timeit, two channels, one event): 120 ns a batch with
            # these kept, 980 ns building them each time.
            before = ".".join(parts[:index])
            after = ".".join(parts[index + 1 :])
            head = b"id: " + (before + "." if before else "").encode("ascii")
            tail = ("." + after + "\n" if after else "\n").encode("ascii")
            id_line = self._id_line = (index, head, tail)
        _, head, tail = id_line
        if len(frames) == 1:
            position, bare = frames[0]
            writer.write(b"".join((head, position, tail, bare)))
        else:
            chunks: list[bytes] = []
            for position, bare in frames:
                chunks += (head, position, tail, bare)
            writer.write(b"".join(chunks))
        slot = self._slots[index]
        parts[index] = slot.tag + last_id
        slot.last_sent = last_id
        return True

    def left(self, index: int, position: str) -> None:
        """The shared feed stopped writing channel ``index`` after ``position``.

        The channel reads a feed of its own again from there once ``reopen()``
        is called (after every channel that leaves has left).
        """
        slot = self._slots[index]
        slot.shared = False
        slot.out = True
        slot.last_sent = position
        self._cursor_parts[index] = slot.tag + position
        self._id_line = None

    def reopen(self) -> None:
        """Open own feeds for the channels that left their taps (now, or after a read in progress)."""
        if self._pulling is not None or self._writer is None or self._stop is not None:
            return  # after the read; or ending anyway: its own flush writes the last frame
        if any(slot.out for slot in self._slots):
            self._pulling = asyncio.get_running_loop().create_task(self._reopen())

    async def _reopen(self) -> None:
        chunks: list[bytes] = []
        for old in self._slots:
            if not old.out:
                continue
            try:
                slot = await self._open_slot(old.index, old.channel, parse_id(old.last_sent))
            except (BackendError, ClosedError) as exc:
                self._pulling = None
                self.failed(old.index, f"channel {old.channel!r}: {exc}")
                return
            if self._writer is None or self._stop is Stop.DISCONNECTED:
                self._pulling = None
                await slot.feed.close()  # closed while we reopened
                return
            # Catching up what the socket could not take is not a replay: no max_replay.
            slot.replaying = False
            self._slots[old.index] = slot
        self._pulling = None
        for notice_slot, notice in self._opening_notices:
            chunks.append(self._notice_frame(notice_slot, notice))
        COUNTERS.events_lost_notices += len(self._opening_notices)
        self._opening_notices = []
        self._dirty = True
        self._write_out(chunks)

    def failed(self, index: int, text: str) -> None:
        """No feed for channel ``index`` any more (the Realtime was closed, or reopening failed):
        say why, then ``reconnect``, so the client goes elsewhere."""
        slot = self._slots[index]
        slot.shared = slot.out = False
        slot.finished = True
        self.stop(Stop.FAILED)
        self._write_out([self._notice_frame(slot, _Notice(text))])

    # -- reading the feeds -----------------------------------------------------------

    async def _take(self, chunks: list[bytes]) -> None:
        """Append to ``chunks`` the frames of everything the feeds have for us now."""
        for slot in self._slots:
            if slot.finished or slot.away or not slot.feed.has_work:
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

    def _take_ready(self, chunks: list[bytes]) -> bool:
        """``_take`` without awaiting.

        False, having taken nothing, if a feed needs an await (a history read,
        or a replay, which may have to reopen it): then ``await _take`` instead.
        """
        slots = self._slots
        for slot in slots:
            if slot.finished or slot.away:
                continue
            if slot.feed.has_work and (slot.replaying or slot.feed.needs_read):
                return False
        for slot in slots:
            if not slot.finished and not slot.away and slot.feed.has_work:
                self._add_item(slot, slot.feed.pull_ready(), chunks)
        return True

    def _add_item(self, slot: _Slot, item: list[Entry] | BaseException | None, chunks: list[bytes]) -> None:
        """A live batch, a problem, or the end of a feed (None)."""
        if item is None:
            slot.finished = True
            return
        if isinstance(item, BaseException):
            if isinstance(item, EventsLostError):
                COUNTERS.events_lost_notices += 1
            chunks.append(self._notice_frame(slot, _Notice(str(item))))
        else:
            self._add_frames(slot, item, chunks)
        self._more(slot)

    def _more(self, slot: _Slot) -> None:
        if not slot.finished and not slot.away and slot.feed.has_work:
            # More to read (a catch-up page at a time): come back after this write.
            self._dirty = True

    def _add_frames(self, slot: _Slot, entries: list[Entry], chunks: list[bytes]) -> None:
        if not entries:
            return
        COUNTERS.deliveries += len(entries)
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
            self._id_line = None  # this channel's part moves
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
        self._id_line = None
        return with_id(encode_cursor(self._cursor_parts), frame)
