"""A minimal HTTP/1.1 client over asyncio streams, for exact bytes and many connections.

It exposes what httpx hides on purpose: each HTTP chunk as the server sent
it (one ``send`` of the app is one chunk), the raw SSE bytes, and a socket
that costs almost nothing, so a test can hold a thousand of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.client import SSEParser


@dataclass
class Frame:
    """One SSE event as a client sees it: parsed JSON ``data`` and the ``id`` in force."""

    data: dict[str, Any]
    id: str

    @property
    def type(self) -> str | None:
        value = self.data.get("type")
        return value if isinstance(value, str) else None


@dataclass
class RawStream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytearray = field(default_factory=bytearray)
    parser: SSEParser = field(default_factory=SSEParser)
    pending: list[Frame] = field(default_factory=list)
    ended: bool = False

    @classmethod
    async def open(
        cls, port: int, target: str, *, method: str = "GET", headers: dict[str, str] | None = None
    ) -> RawStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        stream = cls(reader, writer)
        await stream.read_head()
        return stream

    async def read_head(self) -> None:
        """Read the status line and headers (``open`` does; for requests written by hand)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                self.headers[key] = (
                    f"{self.headers[key]}, {value.strip()}" if key in self.headers else value.strip()
                )

    async def body(self) -> bytes:
        """The whole body of a response with Content-Length."""
        length = int(self.headers["content-length"])
        return await asyncio.wait_for(self.reader.readexactly(length), 10)

    async def json(self) -> Any:
        return orjson.loads(await self.body())

    async def chunk(self, timeout: float = 5.0) -> bytes | None:
        """The next HTTP chunk of a chunked body; None once the body ended."""
        if self.ended:
            return None
        size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        size = int(size_line.strip().split(b";")[0], 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
        if size == 0:
            self.ended = True
            return None
        self.raw += data[:-2]
        return data[:-2]

    async def frame(self, timeout: float = 5.0) -> Frame:
        """The next SSE event; raises EOFError if the stream ends first."""
        while not self.pending:
            data = await self.chunk(timeout)
            if data is None:
                raise EOFError("the stream ended")
            for event in self.parser.feed(data):
                self.pending.append(Frame(orjson.loads(event.data), event.id))
        return self.pending.pop(0)

    async def frames(self, count: int, timeout: float = 5.0, *, skip_pings: bool = True) -> list[Frame]:
        found: list[Frame] = []
        while len(found) < count:
            frame = await self.frame(timeout)
            if skip_pings and frame.type == "ping":
                continue
            found.append(frame)
        return found

    async def until_end(self, timeout: float = 5.0) -> list[Frame]:
        """Every frame until the server ends the body."""
        found: list[Frame] = []
        while True:
            try:
                found.append(await self.frame(timeout))
            except EOFError:
                return found

    async def quiet(self, seconds: float) -> list[Frame]:
        """Frames (pings excluded) that arrive within ``seconds``."""
        found: list[Frame] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    frame = await self.frame(seconds)
                    if frame.type != "ping":
                        found.append(frame)
        return found

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
