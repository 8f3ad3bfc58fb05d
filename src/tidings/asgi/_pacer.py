"""When an endpoint's streams write: one flush per loop iteration, one ping timer, one expiry queue.

A stream never writes from a feed's callback: it asks to be flushed
(``mark``), and ONE callback per loop iteration flushes every stream that
asked. So a burst of deliveries costs each stream one write, and a stream
costs no task of its own while it waits. The same goes for time: one timer
pings every started stream, and because every stream of an endpoint has the
same ``max_duration``, their deadlines come in the order they started, so
one queue and one timer end them all. The timers run only while a stream is
open.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from typing import TYPE_CHECKING

from ._settings import StreamSettings

if TYPE_CHECKING:
    from ._connection import Connection

logger = logging.getLogger("tidings.asgi")


class Pacer:
    """Flushes, pings and expires the started streams of one endpoint."""

    __slots__ = (
        "_dirty",
        "_expiry",
        "_expiry_timer",
        "_flush_scheduled",
        "_ping_timer",
        "_settings",
        "streams",
    )

    def __init__(self, settings: StreamSettings) -> None:
        self._settings = settings
        # Started streams, not yet closed: the ones a ping goes to.
        self.streams: set[Connection] = set()
        self._dirty: list[Connection] = []
        self._flush_scheduled = False
        self._ping_timer: asyncio.TimerHandle | None = None
        # Weak: a stream that closed early need not wait here for its deadline.
        self._expiry: collections.deque[tuple[float, weakref.ref[Connection]]] = collections.deque()
        self._expiry_timer: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> bool:
        """No stream waits for a flush, and no timer runs."""
        return not self._dirty and self._ping_timer is None and self._expiry_timer is None

    def started(self, stream: Connection) -> None:
        loop = asyncio.get_running_loop()
        self.streams.add(stream)
        if self._ping_timer is None:
            self._ping_timer = loop.call_later(self._settings.ping_interval, self._ping)
        if self._settings.max_duration is not None:
            self._expiry.append((loop.time() + self._settings.max_duration, weakref.ref(stream)))
            if self._expiry_timer is None:
                self._expiry_timer = loop.call_at(self._expiry[0][0], self._expire)

    def closed(self, stream: Connection) -> None:
        self.streams.discard(stream)
        if not self.streams:
            for timer in (self._ping_timer, self._expiry_timer):
                if timer is not None:
                    timer.cancel()
            self._ping_timer = self._expiry_timer = None
            self._expiry.clear()

    def mark(self, stream: Connection) -> None:
        """Flush ``stream`` in this loop iteration's flush (the stream asks once until flushed)."""
        self._dirty.append(stream)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for stream in dirty:
            try:
                stream.flush()
            except Exception:
                logger.exception("tidings.asgi: writing a stream failed; closing it")
                stream.abort()

    def _ping(self) -> None:
        for stream in self.streams:
            stream.ping()
        self._ping_timer = asyncio.get_running_loop().call_later(self._settings.ping_interval, self._ping)

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        expiry = self._expiry
        while expiry and expiry[0][0] <= loop.time():
            stream = expiry.popleft()[1]()
            if stream is not None:
                stream.expire()
        self._expiry_timer = loop.call_at(expiry[0][0], self._expire) if expiry else None
