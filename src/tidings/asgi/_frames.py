"""The SSE wire format of the endpoint: pure functions from values to bytes.

Every frame is ``data: <one line of JSON>\\n\\n`` (PROTOCOL.md section 1), with
an optional ``id:`` line before it. User events never carry an ``event:``
line: ``EventSource`` would then route them away from ``onmessage`` and the
``@upstash/realtime`` client would never see them.

An event's frame depends only on the event, so it is built once and shared by
every connection that delivers it (``FrameCache``); only the ``id:`` line of a
connection that follows several channels is its own.
"""

from __future__ import annotations

import orjson

from tidings._backend import Entry

from ._cursor import channel_tag

_DATA = b"data: "
_END = b"\n\n"


def data_frame(json_text: bytes) -> bytes:
    """``data: <json>\\n\\n``; the JSON must already be on one line."""
    return _DATA + json_text + _END


def with_id(event_id: str, frame: bytes) -> bytes:
    """Put an ``id:`` line before ``frame`` (EventSource echoes it back as ``Last-Event-ID``)."""
    return b"id: " + event_id.encode("ascii") + b"\n" + frame


def event_json(entry: Entry) -> bytes:
    """``{"id":..,"event":..,"channel":..,"data":..}`` on one line, the data copied as stored."""
    payload = entry.payload
    if b"\n" in payload or b"\r" in payload:
        # Valid JSON has line breaks only as insignificant whitespace, but one
        # raw newline inside a data: line would split the frame for every client.
        payload = orjson.dumps(orjson.loads(payload))
    return b"".join(
        (
            b'{"id":"',
            entry.id.encode("ascii"),
            b'","event":',
            orjson.dumps(entry.event),
            b',"channel":',
            orjson.dumps(entry.channel),
            b',"data":',
            payload,
            b"}",
        )
    )


def event_frame(entry: Entry) -> bytes:
    return data_frame(event_json(entry))


def connected_frame(channel: str, cursor: str) -> bytes:
    # ``cursor`` becomes the client's last_ack for the channel: a later
    # reconnect of the library then resumes from an exact id, not a clock.
    return data_frame(orjson.dumps({"type": "connected", "channel": channel, "cursor": cursor}))


def ping_frame(timestamp_ms: int) -> bytes:
    return b'data: {"type":"ping","timestamp":%d}\n\n' % timestamp_ms


def reconnect_frame(timestamp_ms: int) -> bytes:
    return b'data: {"type":"reconnect","timestamp":%d}\n\n' % timestamp_ms


def error_frame(message: str) -> bytes:
    return data_frame(orjson.dumps({"type": "error", "error": message}))


def retry_frame(milliseconds: int) -> bytes:
    """Sets the browser's own reconnect delay (the SSE ``retry`` field)."""
    return b"retry: %d\n\n" % milliseconds


class FrameCache:
    """Event frames built once and reused by every connection that sends them.

    Bounded: two generations of ``size`` entries; when the young one is full
    it becomes the old one and the previous old one is dropped. Fan-out sends
    an event to all its connections within a few loop iterations, so a small
    cache catches nearly every reuse.
    """

    __slots__ = ("_old", "_size", "_young")

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._young: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._old: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    def single(self, entry: Entry, tag: str) -> bytes:
        """The frame with the single-channel ``id:`` line (``tag`` + the entry's id)."""
        found = self._young.get((entry.channel, entry.id))
        if found is None:
            found = self.frame(entry, tag)
        return found[1]

    def bare(self, entry: Entry) -> bytes:
        """The frame without an ``id:`` line (connections on several channels add their own)."""
        found = self._young.get((entry.channel, entry.id))
        if found is None:
            found = self.frame(entry, channel_tag(entry.channel))
        return found[0]

    def frame(self, entry: Entry, tag: str) -> tuple[bytes, bytes]:
        """``(frame without id line, frame with the single-channel id line)``.

        ``tag`` is the channel's cursor tag (``_cursor.channel_tag``): a
        connection on one channel has the same ``id:`` line as every other
        connection on that channel, so its whole frame is shared too.
        """
        key = (entry.channel, entry.id)
        found = self._young.get(key)
        if found is not None:
            return found
        found = self._old.get(key)
        if found is None:
            bare = event_frame(entry)
            found = (bare, with_id(tag + entry.id, bare))
        if len(self._young) >= self._size:
            self._old = self._young
            self._young = {}
        self._young[key] = found
        return found

    def __len__(self) -> int:
        return len(self._young) + len(self._old)
