"""An endpoint's channel taps: which channels have one, and the streams that come and go.

See ``_tap`` for what a tap is and the rules a stream follows on it; this is
the bookkeeping: a channel gets a tap when its second stream arrives (one
stream gains nothing from a second feed), a stream enters the tap of each of
its channels that has one, a full writer takes a stream off all of them at
once, and a tap closes with its last stream.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tidings._counters import COUNTERS

from ._connection import Connection
from ._frames import FrameCache
from ._tap import ChannelTap

if TYPE_CHECKING:
    from tidings._realtime import Realtime


class Taps:
    """The channel taps of one endpoint's streams on one server."""

    __slots__ = ("_frames", "_lone", "_realtime", "_tasks", "taps")

    def __init__(self, realtime: Realtime, frames: FrameCache, tasks: set[asyncio.Task[None]]) -> None:
        self._realtime = realtime
        self._frames = frames
        self._tasks = tasks
        self.taps: dict[str, ChannelTap] = {}
        # The one stream on a channel without a tap: a tap (a second feed) is
        # made only once a second stream comes.
        self._lone: dict[str, Connection] = {}

    @property
    def empty(self) -> bool:
        return not self.taps and not self._lone

    def add(self, connection: Connection) -> None:
        """A started stream: each of its channels may come to share its channel's feed."""
        for index, channel in enumerate(connection.channels):
            tap = self.taps.get(channel)
            if tap is None or tap.closed:
                first = self._lone.pop(channel, None)
                if first is None:
                    self._lone[channel] = connection
                    continue
                tap = self.taps[channel] = ChannelTap(self, channel)
                self._enter(tap, first, first.channels.index(channel))
            self._enter(tap, connection, index)

    def _enter(self, tap: ChannelTap, connection: Connection, index: int) -> None:
        connection.on_caught_up = self._caught_up
        tap.add(connection, index)

    def _caught_up(self, connection: Connection) -> None:
        """``connection`` wrote everything its own feeds had: the channels that have a tap may join it."""
        taps = self.taps
        for channel in connection.channels:
            tap = taps.get(channel)
            if tap is not None and connection in tap.candidates:
                tap.try_join(connection)

    def evict(self, connection: Connection) -> None:
        """``connection``'s writer is full: off every tap it is a member of, then it reopens its own feeds."""
        taps = self.taps
        for channel in connection.channels:
            tap = taps.get(channel)
            if tap is not None:
                tap.evict(connection)
        # It catches up from history on feeds of its own: a slow consumer's catch-up (/metrics).
        COUNTERS.catch_ups += 1
        connection.reopen()

    async def leave(self, connection: Connection) -> None:
        """``connection`` ended: off its taps (each closed with its last stream), and off the lone list."""
        for channel in connection.channels:
            if self._lone.get(channel) is connection:
                del self._lone[channel]
        if connection.on_caught_up is None:
            return
        connection.on_caught_up = None
        for channel in connection.channels:
            tap = self.taps.get(channel)
            if tap is None:
                continue
            await tap.leave(connection)
            if tap.closed and self.taps.get(channel) is tap:
                del self.taps[channel]
