"""An incremental Server-Sent Events parser, as the HTML standard specifies it.

Bytes go in as they arrive (a chunk may end anywhere, even between the CR
and LF of one line break); complete events come out. The parts that matter
for resuming: ``id`` persists across events until changed (it is what a
browser would send back as ``Last-Event-ID``), an ``id`` containing NUL is
ignored, and ``retry`` is honoured only when it is all digits.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One dispatched SSE event: ``data`` (lines joined by ``\\n``), ``event`` type, last ``id``."""

    data: str
    event: str = "message"
    id: str = ""


class SSEParser:
    """Feed it bytes with ``feed()``; it returns the events completed by them."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf and text:
            # The previous chunk ended in CR: an LF starting this one belongs to it.
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        self._buffer += text
        events: list[ServerEvent] = []
        buffer = self._buffer
        start = 0
        length = len(buffer)
        while start < length:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_start = lf, lf + 1
            elif cr + 1 < length:
                end = cr
                next_start = cr + 2 if buffer[cr + 1] == "\n" else cr + 1
            else:
                # A CR at the very end: the line is complete, an LF may follow.
                end, next_start = cr, cr + 1
                self._skip_lf = True
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = next_start
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        data, self._data = self._data, []
        event, self._event = self._event, ""
        if not data:
            return None
        return ServerEvent("\n".join(data), event or "message", self.last_event_id)
