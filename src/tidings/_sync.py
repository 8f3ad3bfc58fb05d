"""The blocking facade: emit and history from code that has no event loop.

Flask and Django views, Celery tasks and scripts call ``realtime.sync``. Each
call runs the async method on the ``Realtime``'s own event loop: the loop of
the ASGI server when one is running in another thread (a Django sync view
next to an async SSE endpoint), or else a private loop in a daemon thread
started on first use.

The private loop only ever holds the ``Realtime`` on loan. A ``def`` route of
Starlette, FastAPI or Django may emit before any stream has connected, so
before the server's loop ever touched the ``Realtime``; when async code on
another loop then uses it, the ``Realtime`` moves there (``hand_over``): the
private loop finishes the calls it is running, releases what the backend
opened on it (Redis connections) and closes, and every later sync call runs
on the new loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import BackendUnavailableError, ClosedError, UsageError
from ._message import Message
from ._presence import Member

if TYPE_CHECKING:
    from ._channel import Channel
    from ._realtime import Realtime

T = TypeVar("T")

logger = logging.getLogger("tidings")


class SyncRealtime:
    """Blocking ``emit`` and ``history``; every call waits at most ``timeout`` seconds."""

    def __init__(self, realtime: Realtime, *, timeout: float = 30.0) -> None:
        self._realtime = realtime
        self.timeout = timeout
        # Everything below is shared by the callers' threads, the private loop's
        # thread and the loop the Realtime moves to: guarded by ``_lock``.
        self._lock = threading.Lock()
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: concurrent.futures.Future[None] | None = None
        self._stopping = False
        self._running: set[concurrent.futures.Future[Any]] = set()

    def emit(self, event: str, data: Any) -> str:
        """Emit to the ``"default"`` channel; returns the new id."""
        return self._call(lambda: self._realtime.emit(event, data))

    def history(self, **options: Any) -> list[Message]:
        return self._call(lambda: self._realtime.history(**options))

    def channel(self, name: str) -> SyncChannel:
        return SyncChannel(self, self._realtime.channel(name))

    def close(self) -> None:
        """Close the ``Realtime`` (on whichever loop holds it) and stop the private loop, if any."""
        bound = self._realtime._loop
        if self._own_loop is None and (bound is None or not bound.is_running()):
            return
        try:
            self._call(self._realtime.aclose)
        finally:
            with self._lock:
                stopped = self._stop_own_loop()
                thread = self._thread
            if stopped is not None:
                stopped.result(self.timeout)
            if thread is not None:
                thread.join(self.timeout)

    # -- for Realtime -------------------------------------------------------------------

    def hand_over(
        self, loop: asyncio.AbstractEventLoop, move: Callable[[], None]
    ) -> concurrent.futures.Future[None] | None:
        """Let the ``Realtime`` leave ``loop`` if it is the private one; None if it is not.

        ``move()`` rebinds the ``Realtime``; it is called under the lock, so
        every sync call either was already running on the private loop (and
        is waited for) or goes to the new loop. The result completes once
        the private loop is closed.
        """
        with self._lock:
            if loop is not self._own_loop or self._stopping:
                return None
            move()
            return self._stop_own_loop()

    # -- internals -------------------------------------------------------------------------

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        with self._lock:
            loop = self._target_loop()
            future = asyncio.run_coroutine_threadsafe(make(), loop)
            tracked = loop is self._own_loop
            if tracked:
                self._running.add(future)
        if tracked:  # not under the lock: a call already done runs its callback right here
            future.add_done_callback(self._finished)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BackendUnavailableError(
                f"the call did not finish within {self.timeout} s (SyncRealtime.timeout)"
            ) from None

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)

    def _target_loop(self) -> asyncio.AbstractEventLoop:
        bound = self._realtime._loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is not None and (bound is None or bound is current):
            raise UsageError(
                "realtime.sync was called from inside the event loop it would block on; "
                "use `await realtime.emit(...)` in async code"
            )
        if bound is not None and bound is self._own_loop and self._stopping:
            raise ClosedError("this Realtime is being closed (realtime.close())")
        if bound is not None and bound.is_running():
            return bound  # the server's loop, or the private one while it holds the Realtime
        if self._own_loop is None or self._stopping:
            self._start_thread()
        assert self._own_loop is not None
        return self._own_loop

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.close()
                with self._lock:
                    if self._own_loop is loop:
                        self._own_loop = self._thread = None
                        self._stopping = False
                stopped.set_result(None)

        thread = threading.Thread(target=run, name="tidings-sync-loop", daemon=True)
        thread.start()
        ready.wait()
        self._own_loop, self._thread, self._stopped = loop, thread, stopped
        self._stopping = False

    def _stop_own_loop(self) -> concurrent.futures.Future[None] | None:
        """Wind the private loop down (under the lock); its ``stopped`` future, or None."""
        loop = self._own_loop
        if loop is None:
            return None
        if not self._stopping:
            self._stopping = True
            asyncio.run_coroutine_threadsafe(_wind_down(loop, list(self._running)), loop)
        return self._stopped


async def _wind_down(loop: asyncio.AbstractEventLoop, running: list[concurrent.futures.Future[Any]]) -> None:
    """Let the calls in flight finish, then end what they left behind and stop the loop.

    What is left is the backend's own machinery (a Redis backend's lifetime
    task releases its connections when cancelled), as ``asyncio.run`` would
    end it.
    """
    try:
        await asyncio.gather(*(asyncio.wrap_future(call) for call in running), return_exceptions=True)
        me = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not me]
        for task in rest:
            task.cancel()
        for outcome in await asyncio.gather(*rest, return_exceptions=True):
            if isinstance(outcome, Exception):
                logger.warning("tidings: the sync facade's loop ended with an error: %r", outcome)
        await loop.shutdown_asyncgens()
    finally:
        loop.stop()


class SyncChannel:
    """Blocking ``emit``, ``emit_many``, ``history``, ``presence`` and ``presence_count`` on one channel.

    Entering presence is async only: a member must outlive the call that
    entered it, and its heartbeats need a running loop.
    """

    def __init__(self, facade: SyncRealtime, channel: Channel) -> None:
        self._facade = facade
        self._channel = channel

    @property
    def name(self) -> str:
        return self._channel.name

    def emit(self, event: str, data: Any) -> str:
        return self._facade._call(lambda: self._channel.emit(event, data))

    def emit_many(self, events: Iterable[tuple[str, Any]]) -> list[str]:
        items = list(events)
        return self._facade._call(lambda: self._channel.emit_many(items))

    def history(
        self,
        *,
        limit: int | None = None,
        start: int | None = None,
        end: int | None = None,
        after: str | None = None,
    ) -> list[Message]:
        return self._facade._call(
            lambda: self._channel.history(limit=limit, start=start, end=end, after=after)
        )

    def presence(self, *, limit: int | None = None) -> list[Member]:
        return self._facade._call(lambda: self._channel.presence(limit=limit))

    def presence_count(self) -> int:
        return self._facade._call(self._channel.presence_count)
