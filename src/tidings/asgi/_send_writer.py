"""``StreamWriter`` over an ASGI ``send``: how a stream goes out under uvicorn, Hypercorn, Granian...

Two tasks per stream, whatever the number of channels: the request's own task
sends, and one task waits for ``http.disconnect``. One ``send`` at a time:
what the stream writes while a send is in progress is joined and goes out in
the next one. The writer stays ``writable`` until what it holds for that next
send passes ``send_buffer`` bytes, so a slow client backs up into its feeds'
bounded queues (and out of its channel taps), not into memory here -- while a
client that keeps up is not refused a batch just because a send is under way
(which would make a tap member leave at almost every batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ._connection import Connection
from ._types import Receive, Send

logger = logging.getLogger("tidings.asgi")


class SendWriter:
    """The body of one streaming response, sent by the request's task."""

    __slots__ = ("_body", "_closing", "_due", "_last", "_limit", "_pending", "_send", "_waiting", "writable")

    def __init__(self, send: Send, limit: int = 65_536) -> None:
        self._send = send
        self._body: list[bytes] = []
        self._pending = 0  # bytes in _body
        self._limit = limit
        self._last = False  # end() came: the response ends with what is queued
        self._closing = False  # aborted, or the client left: send nothing more
        self._due = False  # the stream has something to write: flush it before the next send
        # A bare future, made only while the task waits: an idle stream should
        # not carry an Event (each holds a deque of ~760 bytes).
        self._waiting: asyncio.Future[None] | None = None
        self.writable = True

    # -- StreamWriter ------------------------------------------------------------------

    def write(self, body: bytes) -> None:
        self._body.append(body)
        self._pending += len(body)
        if self._pending > self._limit:
            self.writable = False  # until the next send takes it
        self._wake()

    def end(self, body: bytes) -> None:
        self._body.append(body)
        self._last = True
        self._wake()

    def abort(self) -> None:
        self._closing = True
        self.writable = False
        self._wake()

    def due(self) -> bool:
        # This writer's task flushes the stream itself, right before it sends:
        # a hop through the pacer would cost a loop turn per send (measured:
        # about 9 % of the peak deliveries/s at 1 000 streams on one channel).
        self._due = True
        self._wake()
        return True

    def _wake(self) -> None:
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    # -- the request's task ------------------------------------------------------------

    async def carry(self, stream: Connection, receive: Receive) -> None:
        """Send ``stream``'s body until it ends, the client leaves, or the writer is aborted.

        The response has started; ``stream`` is started on this writer.
        """
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(self._watch(stream, receive))
        try:
            try:
                await self._pump(stream, loop)
            finally:
                watcher.cancel()
                await asyncio.wait([watcher])
        except asyncio.CancelledError:
            # The server gave up waiting (uvicorn's --timeout-graceful-shutdown):
            # still tell the client to come back, so it resumes elsewhere at once.
            stream.abandon()
            if self._last and not self._closing:
                with contextlib.suppress(OSError, RuntimeError):
                    await self._send_body(more=False)
            raise
        if not watcher.cancelled() and watcher.exception() is not None:
            raise watcher.exception()  # type: ignore[misc]

    async def _pump(self, stream: Connection, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            while not self._body and not self._closing:
                if self._due:
                    self._due = False
                    try:
                        stream.flush()  # writes here at once, or later (a history read)
                    except Exception:  # as the pacer does: this stream ends, the others go on
                        logger.exception("tidings.asgi: writing a stream failed; closing it")
                        stream.abort()
                    continue
                self._waiting = loop.create_future()
                try:
                    await self._waiting
                finally:
                    self._waiting = None
            if self._closing:
                return
            if self._last:
                # The end of the response, if the client and server still let us.
                with contextlib.suppress(OSError, RuntimeError):
                    await self._send_body(more=False)
                return
            try:
                await self._send_body(more=True)
            except OSError:
                # Servers that raise on a closed socket: the client is gone.
                self._gone(stream)
                return
            if self._closing:
                return
            stream.resumed()

    async def _send_body(self, *, more: bool) -> None:
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._pending = 0
        if not self._closing:
            self.writable = True
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def _watch(self, stream: Connection, receive: Receive) -> None:
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
        except Exception:
            # receive() failed: the sender must not wait forever (carry() re-raises).
            self._gone(stream)
            raise
        self._gone(stream)

    def _gone(self, stream: Connection) -> None:
        self._closing = True
        self.writable = False
        stream.lost()
        self._wake()
