"""The blocking facade: emit and history from code that has no event loop.

Flask and Django views, Celery tasks and scripts call ``realtime.sync``. Each
call runs the async method on the ``Realtime``'s own event loop: the loop of
the ASGI server when one is running in another thread (a Django sync view
next to an async SSE endpoint), or else a private loop in a daemon thread
started on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import BackendUnavailableError, UsageError
from ._message import Message

if TYPE_CHECKING:
    from ._channel import Channel
    from ._realtime import Realtime

T = TypeVar("T")


class SyncRealtime:
    """Blocking ``emit`` and ``history``; every call waits at most ``timeout`` seconds."""

    def __init__(self, realtime: Realtime, *, timeout: float = 30.0) -> None:
        self._realtime = realtime
        self.timeout = timeout
        self._thread: threading.Thread | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def emit(self, event: str, data: Any) -> str:
        """Emit to the ``"default"`` channel; returns the new id."""
        return self._call(lambda: self._realtime.emit(event, data))

    def history(self, **options: Any) -> list[Message]:
        return self._call(lambda: self._realtime.history(**options))

    def channel(self, name: str) -> SyncChannel:
        return SyncChannel(self, self._realtime.channel(name))

    def close(self) -> None:
        """Close the ``Realtime`` and stop the private loop thread, if one was started."""
        loop, thread = self._own_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._realtime.aclose)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=self.timeout)
            loop.close()
            self._own_loop = self._thread = None

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._target_loop()
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BackendUnavailableError(
                f"the call did not finish within {self.timeout} s (SyncRealtime.timeout)"
            ) from None

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
        if bound is not None and bound.is_running():
            return bound
        with self._lock:
            if self._own_loop is None:
                self._start_thread()
            assert self._own_loop is not None
            return self._own_loop

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="tidings-sync-loop", daemon=True)
        thread.start()
        ready.wait()
        self._own_loop, self._thread = loop, thread


class SyncChannel:
    """Blocking ``emit``, ``emit_many`` and ``history`` on one channel."""

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
