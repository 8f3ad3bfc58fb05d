"""One subscriber's view of a channel: replay, then live, with no gap and no duplicate.

The backend feeds live entries into ``on_entries``; the consumer pulls them
out. Between the two sits a bounded queue. Whenever the live feed cannot be
trusted to be contiguous -- before the initial replay is done, after the
backend reconnected (``on_reset``), or after the queue overflowed because the
consumer is slow -- the feed enters *catch-up*: live entries go to a bounded
side buffer while the consumer reads history after the last id it accepted,
and once a read comes back short the buffer is merged in by id. Ids at or
below the last accepted one are dropped, so nothing is delivered twice;
history covers everything the live feed missed, so nothing is skipped. If
history was trimmed past that point, the consumer is told with
``EventsLostError`` -- never silently.

Invariants (tests/unit/test_replay_properties.py checks them after every step):

* needs catch-up (a history read is owed) => catching up (live entries go to
  the side buffer, not to the queue);
* not catching up => the side buffer is empty and has not overflowed;
* the side buffer holds at most ``capacity`` entries; once more arrive it is
  dropped and marked overflowed, and catch-up reads history once more;
* live entries and catch-up pages are queued only while fewer than
  ``capacity`` wait (the initial replay is queued whole); past that the feed
  stops queueing and catches up later (a slow consumer costs history reads,
  never memory);
* ``position`` (the last accepted id) never decreases, every queued id is
  above the one queued before it and at most ``position``: entries are
  handed out in strictly increasing id order, each at most once;
* a history read belongs to the epoch it started in: a reset while it runs
  makes it stale, and another read follows;
* once closed, nothing more is accepted and the queue is dropped; the
  consumer gets the problems already reported, then ``None``.

``settled`` means: live, no read owed, no problem to report, nothing queued,
not closed -- everything accepted has been handed out. ``has_work`` means
``pull()`` has something to return at once (entries, a problem, the end) or
a read to run.

Each consumer uses one of two APIs, never both on one feed:

* ``next_entry()``, one entry at a time, waiting for live ones: the callback
  and ``async for`` subscribers (``_delivery``). Entries stay in the feed's
  queue until handed out, so ``subscriber_queue`` bounds what a slow handler
  leaves waiting; pulling batches into a consumer-side list would let twice
  that wait before catch-up starts.
* ``set_waker()`` + ``pull()``, to serve many feeds from one writer: the
  waker is called synchronously whenever ``has_work`` may have become true,
  and ``pull()`` takes everything at once, awaiting only a history read. The
  ASGI stream writer (``asgi/_connection``) awaits ``pull()``. Writers that
  run inside a synchronous callback and cannot await (the native server's
  ``Connection.take_ready`` and shared ``ChannelTap``) call ``pull_ready()``,
  which is ``pull()`` minus the read, and when ``needs_read`` is true hand
  the read to a task that awaits ``pull()``. ``settled`` and ``position``
  tell a ``ChannelTap`` when a stream may switch from its own feed to the
  shared one.

A feed allocates little until it is used: an idle subscriber holds two empty
lists and no event object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ._backend import Backend, BackendStatus, Entry, LiveSubscription
from ._counters import COUNTERS
from ._exceptions import BackendError, ClosedError, CursorExpiredError, EventsLostError
from ._ids import MAX_PART, IdKey, format_id, parse_id

_MIN_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 2.0
# ``next_entry`` hands entries out by index; the consumed prefix is dropped
# once it is this long (or as soon as the queue is empty).
_COMPACT_AFTER = 256


class Feed:
    """The merge of history and live entries for one subscriber, in id order."""

    __slots__ = (
        "_backend",
        "_buffer",
        "_buffer_overflowed",
        "_capacity",
        "_catching_up",
        "_channel",
        "_closed",
        "_epoch",
        "_events",
        "_head",
        "_last",
        "_live",
        "_needs_catch_up",
        "_page_size",
        "_problems",
        "_queue",
        "_replay_page_size",
        "_retry_delay",
        "_taken",
        "_waiter",
        "_waker",
        "status",
        "status_error",
    )

    def __init__(
        self,
        backend: Backend,
        channel: str,
        *,
        events: frozenset[str] | None,
        capacity: int,
        page_size: int,
    ) -> None:
        self._backend = backend
        self._channel = channel
        self._events = events
        self._capacity = capacity
        # Catch-up pages land in the queue, so they never exceed its capacity;
        # the initial replay is returned whole, so it reads full pages.
        self._page_size = min(page_size, capacity)
        self._replay_page_size = page_size
        # Lists, not deques: an empty deque costs ~760 bytes, a list 56.
        self._queue: list[Entry] = []
        self._taken = 0  # entries at the front of _queue already handed out
        self._problems: list[BaseException] = []
        self._buffer: list[Entry] = []
        self._buffer_overflowed = False
        self._catching_up = True  # until the initial replay decides otherwise
        self._needs_catch_up = False
        self._epoch = 0
        self._last: IdKey = (0, 0)
        self._head: IdKey = (0, 0)
        # A bare future, made only while a consumer waits in next_entry.
        self._waiter: asyncio.Future[None] | None = None
        self._waker: Callable[[], None] | None = None
        self._live: LiveSubscription | None = None
        self._closed = False
        self._retry_delay = _MIN_RETRY_DELAY
        self.status = BackendStatus.CONNECTED
        self.status_error: BaseException | None = None

    # -- set-up ---------------------------------------------------------------

    async def start(
        self,
        *,
        after: IdKey | None,
        history: tuple[int, IdKey | None] | None,
    ) -> None:
        """Attach to the live feed, then replay; returns once live delivery is assured."""
        self._live = await self._backend.subscribe(self._channel, self)
        head = self._head = self._live.head
        try:
            if after is not None:
                self._last = after
                # The first page is read now so that an expired cursor fails the
                # subscribe call itself rather than surfacing later.
                self._epoch += 1
                await self._read_page(self._epoch, raise_expired=True)
            elif history is not None:
                limit, start = history
                replay = await self._replay(limit, start, head)
                self._last = head
                self._queue.extend(replay)
                self._finish_catch_up()
            else:
                self._last = head
                self._finish_catch_up()
        except BaseException:
            await self.close()
            raise

    async def _replay(self, limit: int, start: IdKey | None, head: IdKey) -> list[Entry]:
        """The newest ``limit`` matching entries in ``[start, head]``, oldest first.

        With an event filter, older pages are read until ``limit`` matches are
        found, so a busy channel still yields the requested number.
        """
        found: list[Entry] = []
        end = head
        for _ in range(10):  # bound the scan: 10 pages of history at most
            COUNTERS.history_reads += 1
            page = await self._backend.latest(
                self._channel, start=start, end=end, limit=self._replay_page_size
            )
            found[:0] = [e for e in page if self._events is None or e.event in self._events]
            if len(found) >= limit or len(page) < self._replay_page_size:
                break
            end = _before(page[0].key)
        return found[-limit:] if limit else []

    # -- LiveListener -----------------------------------------------------------

    def on_entries(self, entries: Sequence[Entry]) -> None:
        if self._closed:
            return
        if self._catching_up:
            if self._buffer_overflowed:
                return
            if len(self._buffer) + len(entries) > self._capacity:
                self._buffer_overflowed = True
                self._buffer.clear()
                return
            self._buffer.extend(entries)
            return
        self._accept(entries)
        self._wake()

    def on_reset(self) -> None:
        if not self._closed:
            COUNTERS.feed_resets += 1
            self._begin_catch_up()

    def on_status(self, status: BackendStatus, error: BaseException | None) -> None:
        self.status = status
        self.status_error = error
        if status is BackendStatus.DISCONNECTED and error is not None:
            self._problems.append(error)
            self._wake()

    # -- consumer side ------------------------------------------------------------

    async def next_entry(self) -> Entry | BaseException | None:
        """The next entry to deliver, a problem to report, or None once closed."""
        while True:
            if self._problems:
                return self._problems.pop(0)
            queue = self._queue
            taken = self._taken
            if taken < len(queue):
                entry = queue[taken]
                taken += 1
                if taken == len(queue):
                    queue.clear()
                    taken = 0
                elif taken >= _COMPACT_AFTER:
                    del queue[:taken]
                    taken = 0
                self._taken = taken
                return entry
            if self._closed:
                return None
            if self._needs_catch_up:
                await self._catch_up()
                continue
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        """Call ``waker()`` (synchronously, from the backend's delivery) whenever
        ``has_work`` may have become true; it must not block. None removes it."""
        self._waker = waker

    @property
    def has_work(self) -> bool:
        """Whether ``pull()`` has something to return or a catch-up read to run."""
        return bool(self._problems or self._taken < len(self._queue) or self._needs_catch_up or self._closed)

    @property
    def needs_read(self) -> bool:
        """Whether ``pull()`` would read history (await) rather than return at once."""
        return self._needs_catch_up and not (self._problems or self._taken < len(self._queue) or self._closed)

    def pull_ready(self) -> list[Entry] | BaseException | None:
        """``pull()`` without its catch-up read: never waits; ``[]`` if only a read is pending."""
        if self._problems:
            return self._problems.pop(0)
        if self._taken < len(self._queue):
            return self._drain()
        if self._closed:
            return None
        return []

    async def pull(self) -> list[Entry] | BaseException | None:
        """Without waiting for live entries: a problem to report, every queued entry
        (maybe none), or None once closed.

        When nothing is queued and history must be read (catch-up), reads one
        page first; ``has_work`` tells whether more remains.
        """
        if self.needs_read:
            await self._catch_up()
        return self.pull_ready()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._taken = 0
        self._buffer.clear()
        self._wake()
        if self._live is not None:
            await self._live.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def head_id(self) -> str:
        """The newest id stored when the subscription attached: replayed entries are at or below it."""
        return format_id(self._head)

    @property
    def position(self) -> IdKey:
        """The key of the last entry this subscriber accepted (or its start position)."""
        return self._last

    @property
    def settled(self) -> bool:
        """Live, in sync and empty: everything accepted was handed out, nothing is owed.

        Two settled feeds of one channel, without event filters, at the same
        ``position`` have handed out exactly the same entries and will be given
        the same ones from now on: either may stand in for the other (the
        native SSE server's shared channel taps rely on this).
        """
        return not (
            self._catching_up
            or self._needs_catch_up
            or self._problems
            or self._taken < len(self._queue)
            or self._closed
        )

    @property
    def last_id(self) -> str:
        """The id of the last entry this subscriber accepted (or the position it started at)."""
        return format_id(self._last)

    # -- internals ------------------------------------------------------------------

    def _drain(self) -> list[Entry]:
        """Every entry queued and not handed out yet, in one list."""
        ready = self._queue
        if self._taken:
            ready = ready[self._taken :]
            self._queue.clear()
            self._taken = 0
        else:
            self._queue = []
        return ready

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._waker is not None:
            self._waker()

    def _accept(self, entries: Sequence[Entry]) -> None:
        queue = self._queue
        if (
            self._events is None
            and entries
            and entries[0].key > self._last
            and len(queue) - self._taken + len(entries) <= self._capacity
        ):
            # The common live case: all new, all wanted, room for all. Entries
            # come in increasing id order (backend contract), so the checks of
            # the loop below hold for every one of them.
            queue.extend(entries)
            self._last = entries[-1].key
            return
        for entry in entries:
            if entry.key <= self._last:
                continue
            if self._events is not None and entry.event not in self._events:
                self._last = entry.key
                continue
            if len(queue) - self._taken >= self._capacity:
                # Slow consumer: stop queueing and let history fill the gap later.
                COUNTERS.catch_ups += 1
                self._begin_catch_up()
                return
            queue.append(entry)
            self._last = entry.key

    def _begin_catch_up(self) -> None:
        self._catching_up = True
        self._buffer.clear()
        self._buffer_overflowed = False
        self._needs_catch_up = True
        self._epoch += 1
        self._wake()

    def _go_live(self) -> None:
        self._catching_up = False
        buffered, self._buffer = self._buffer, []
        self._accept(buffered)
        self._wake()

    async def _catch_up(self) -> None:
        self._needs_catch_up = False
        try:
            await self._read_page(self._epoch, raise_expired=False)
        except asyncio.CancelledError:
            # The consumer was cancelled mid-read (asyncio.timeout around
            # anext): the next call must read this page again.
            self._needs_catch_up = True
            raise
        except ClosedError:
            if not self._closed:
                raise
        except BackendError as exc:
            # The backend is unreachable: report it, then retry with backoff.
            self._problems.append(exc)
            self._needs_catch_up = True
            self._retry_delay = min(self._retry_delay * 2, _MAX_RETRY_DELAY)
            await asyncio.sleep(self._retry_delay)
            return
        self._retry_delay = _MIN_RETRY_DELAY

    async def _read_page(self, epoch: int, *, raise_expired: bool) -> None:
        try:
            COUNTERS.history_reads += 1
            page = await self._backend.after(self._channel, self._last, limit=self._page_size)
        except CursorExpiredError as exc:
            if raise_expired:
                raise
            lost_after = format_id(self._last)
            self._last = max(self._last, parse_id(exc.removed_up_to))
            self._problems.append(EventsLostError(self._channel, lost_after, exc.oldest))
            self._needs_catch_up = True
            return
        if self._closed:
            return
        self._accept(page)
        if epoch != self._epoch or len(page) == self._page_size or self._needs_catch_up:
            # More history to read, or the feed was reset while we read.
            self._needs_catch_up = True
            return
        self._finish_catch_up()

    def _finish_catch_up(self) -> None:
        """History is read up to now: merge the buffered live entries and go live.

        If the buffer overflowed meanwhile, live entries were dropped, so read
        history once more instead (with a fresh buffer). If the feed was reset
        while history was being read, the pending catch-up must run first.
        """
        if self._needs_catch_up:
            return
        if self._buffer_overflowed:
            self._buffer.clear()
            self._buffer_overflowed = False
            self._needs_catch_up = True
            self._wake()
            return
        self._go_live()


def _before(key: IdKey) -> IdKey:
    """The largest id below ``key``."""
    ms, seq = key
    if seq > 0:
        return ms, seq - 1
    return (ms - 1, MAX_PART) if ms > 0 else (0, 0)
