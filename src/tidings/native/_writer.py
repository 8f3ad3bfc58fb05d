"""``StreamWriter`` over an asyncio transport: a stream's body as HTTP/1.1 chunks, written at once.

No task and no await: ``write`` hands the bytes to the transport, which
sends what the socket takes and buffers the rest. The protocol sets
``writable`` from the transport's flow control (``pause_writing`` /
``resume_writing``), so a client that stops reading stops its stream from
taking more from its feeds.
"""

from __future__ import annotations

import asyncio

LAST_CHUNK = b"0\r\n\r\n"


def chunk(body: bytes) -> bytes:
    """``body`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(body), body)


class TransportWriter:
    """One stream's response body on ``transport``; ``head`` (the status line and headers) goes first."""

    __slots__ = ("_head", "_transport", "writable")

    # A channel tap writes one body to every member: it is framed once, not
    # once per member (the last body framed, and its chunk).
    _framed: tuple[bytes, bytes] = (b"", b"")

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self._transport = transport
        # Sent with the first write: one syscall for the head and the opening frames.
        self._head = head
        self.writable = True

    def write(self, body: bytes) -> None:
        framed = TransportWriter._framed
        if framed[0] is not body:
            framed = TransportWriter._framed = (body, chunk(body))
        if self._head:
            self._transport.write(self._head + framed[1])
            self._head = b""
        else:
            self._transport.write(framed[1])

    def due(self) -> bool:
        return False  # no task of its own: the pacer flushes native streams, all in one go

    def end(self, body: bytes) -> None:
        self._transport.write(b"%s%x\r\n%s\r\n%s" % (self._head, len(body), body, LAST_CHUNK))
        self._head = b""
        self.writable = False
        self._transport.close()

    def abort(self) -> None:
        self.writable = False
        self._transport.close()
