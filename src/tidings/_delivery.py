"""The two ways a subscriber consumes a feed: a callback task, or ``async for``."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._backend import BackendStatus, Entry
from ._feed import Feed
from ._message import Message

logger = logging.getLogger("tidings")

DataHandler = Callable[[Message], Awaitable[Any] | Any]
ErrorHandler = Callable[[BaseException], Awaitable[Any] | Any]
Decoder = Callable[[Entry], Message]


class _Consumer:
    def __init__(self, feed: Feed, decode: Decoder, on_close: Callable[[_Consumer], None]) -> None:
        self._feed = feed
        self._decode = decode
        self._on_close = on_close

    @property
    def channel(self) -> str:
        return self._feed.channel

    @property
    def last_id(self) -> str:
        """The id of the newest event this subscriber has accepted."""
        return self._feed.last_id

    @property
    def status(self) -> BackendStatus:
        """Whether the backend's live feed is up (``CONNECTED``) or being restored."""
        return self._feed.status

    @property
    def closed(self) -> bool:
        return self._feed.closed

    async def _next(self) -> Message | BaseException | None:
        """The next message, a problem to report, or None when the feed is closed."""
        item = await self._feed.next_entry()
        if item is None or isinstance(item, BaseException):
            return item
        try:
            return self._decode(item)
        except Exception as exc:  # InvalidStoredDataError: report, skip the entry
            return exc

    async def _close_feed(self) -> None:
        if not self._feed.closed:
            await self._feed.close()
            self._on_close(self)


class Subscription(_Consumer):
    """A live callback subscription. Call it (``await unsubscribe()``) to end it.

    Messages reach ``on_data`` one at a time, in id order; an async handler is
    awaited before the next message is delivered. An exception raised by the
    handler goes to ``on_error`` (default: logged) and delivery goes on.
    """

    def __init__(
        self,
        feed: Feed,
        decode: Decoder,
        on_close: Callable[[_Consumer], None],
        on_data: DataHandler,
        on_error: ErrorHandler | None,
    ) -> None:
        super().__init__(feed, decode, on_close)
        self._on_data = on_data
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"tidings-subscription:{self.channel}"
        )

    async def __call__(self) -> None:
        await self.unsubscribe()

    async def unsubscribe(self) -> None:
        """Stop delivery. A handler already running finishes; no new one starts."""
        await self._close_feed()

    async def _abort(self) -> None:
        """Stop delivery at once, cancelling a running handler (used on shutdown)."""
        await self._close_feed()
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            item = await self._next()
            if item is None:
                return
            if isinstance(item, BaseException):
                await self._report(item)
                continue
            try:
                result = self._on_data(item)
                # Most handlers are plain functions: skip the (slow) awaitable check for None.
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:
                await self._report(exc)

    async def _report(self, error: BaseException) -> None:
        if self._on_error is None:
            logger.error("tidings subscription on channel %r: %s", self.channel, error, exc_info=error)
            return
        try:
            result = self._on_error(error)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("tidings: on_error handler of channel %r raised", self.channel)


class Stream(_Consumer):
    """An ``async for`` view of a subscription, closed when its ``async with`` ends.

    Problems (lost events, unreachable backend, stored data that no longer
    matches the schema) are raised from the iteration unless ``on_error`` is
    given, in which case they go there and iteration continues.
    """

    def __init__(
        self,
        feed: Feed,
        decode: Decoder,
        on_close: Callable[[_Consumer], None],
        on_error: ErrorHandler | None,
    ) -> None:
        super().__init__(feed, decode, on_close)
        self._on_error = on_error

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Message:
        while True:
            item = await self._next()
            if item is None:
                raise StopAsyncIteration
            if not isinstance(item, BaseException):
                return item
            if self._on_error is None:
                raise item
            result = self._on_error(item)
            if inspect.isawaitable(result):
                await result

    async def aclose(self) -> None:
        await self._close_feed()
