"""The seam between a stream and the server that carries it: ``StreamWriter``.

``Connection`` is the whole SSE stream: its frames, cursors, pings,
``max_duration``, and the ``reconnect`` frame it ends on. A server only moves
the bytes, through this interface. Two servers implement it:

* ``SendWriter`` (``_send_writer``): an ASGI ``send``, under any ASGI server;
* ``TransportWriter`` (``tidings.native``): an asyncio transport, with HTTP/1.1
  chunks written by hand.

The stream takes events from its feeds only while ``writable``, so what a
writer has to hold beyond that is small (a ping, a notice, the last frame).
The server tells the stream back with two calls: ``stream.resumed()`` once
its writer is writable again, ``stream.lost()`` once the client is gone.
"""

from __future__ import annotations

from typing import Protocol


class StreamWriter(Protocol):
    """Where one stream's response body goes."""

    @property
    def writable(self) -> bool:
        """False while the client does not keep up (a full socket, too much waiting for a send) or is gone."""
        ...

    def write(self, body: bytes) -> None:
        """Queue ``body`` (whole SSE frames) for the client; never blocks."""
        ...

    def end(self, body: bytes) -> None:
        """Write ``body``, then end the response: the last call the stream makes."""
        ...

    def abort(self) -> None:
        """Close the connection without ending the response (the client sees a broken stream)."""
        ...

    def due(self) -> bool:
        """The stream has something to write: will the writer call ``stream.flush()`` itself?

        True for a writer with a task of its own (it flushes the stream right
        before its next send); False leaves the flush to the endpoint's pacer
        (one flush of every due stream per loop iteration).
        """
        ...
