"""Where a channel lives in Redis and how its entries are encoded.

Both layouts keep one stream per channel and publish on a Pub/Sub channel
spelled exactly like the stream key. ``key()`` is the only place that name is
made.

* ``TidingsLayout`` (default): key ``<prefix><channel>``; fields ``event`` and
  ``data`` (always JSON text); one Pub/Sub message per append carrying the
  whole batch in a compact length-prefixed form. Messages start with the
  decimal id, so a future format can be told apart by a leading non-digit.
* ``ShardedLayout``: the tidings layout on a Redis Cluster. The key is
  ``<prefix>{<channel>}``: the whole channel name is the hash tag, so every
  channel gets a slot of its own choosing (spread over the cluster), and its
  stream and its sharded Pub/Sub channel -- one name -- share it. ``}`` and
  ``%`` in a channel name are percent-escaped, so a name can neither end the
  tag early (which would put all ``a}...`` channels in one slot) nor make two
  channels share a key.
* ``UpstashLayout``: the shapes of ``@upstash/realtime`` (PROTOCOL.md §2), so
  a TypeScript app and tidings can share channels. Single Redis only: the
  original has no notion of a cluster.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from redis.typing import EncodableT

from tidings._backend import Entry, Retention
from tidings._ids import MAX_PART, IdKey, format_id
from tidings._limits import PRESENCE_SUFFIX
from tidings._presence import presence_channel

from ._presence_scripts import RECORD_TIDINGS, RECORD_UPSTASH, PresenceScripts
from ._scripts import APPEND_TIDINGS, APPEND_TIDINGS_SHARDED, APPEND_UPSTASH, Script

_NULL = b"null"


# The header line of a record of a live message: "<ms>-<seq> <event size> <data size>".
_RECORD_HEADER = re.compile(rb"([0-9]{1,20})-([0-9]{1,20}) ([0-9]{1,10}) ([0-9]{1,10})")
_MAX_HEADER = 64  # longer than any header line that _RECORD_HEADER accepts
_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)


class MalformedMessageError(ValueError):
    """A Pub/Sub message on a channel's name that is not what an append publishes."""


def _checked_id(ms: bytes, seq: bytes) -> tuple[str, IdKey]:
    """A live message's id from its ASCII-digit parts (matched by the caller's pattern)."""
    key = (int(ms), int(seq))
    text = f"{key[0]}-{key[1]}"
    if key[0] > MAX_PART or key[1] > MAX_PART:
        raise MalformedMessageError(f"id {text} is out of range (64-bit parts)")
    return text, key


def _check_json(payload: bytes, at: str) -> None:
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise MalformedMessageError(f"the data of {at} is not JSON") from None


def parse_raw_id(raw: bytes) -> tuple[str, IdKey]:
    """A Redis-generated id (always ``<ms>-<seq>``) as text and as a sort key."""
    ms, _, seq = raw.partition(b"-")
    return raw.decode(), (int(ms), int(seq))


def _retention_args(retention: Retention) -> list[EncodableT]:
    return [retention.max_length or 0, retention.expire_after_secs or 0]


class Layout(abc.ABC):
    name: ClassVar[str]
    append_script: ClassVar[Script]
    presence_scripts: ClassVar[PresenceScripts]

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, channel: str) -> str:
        """The stream key, which is also the Pub/Sub channel name."""
        return self.prefix + channel

    def presence_keys(self, channel: str) -> list[str]:
        """``channel``'s presence state (members, counts, connections, expiries), then
        the stream of its presence channel: all in that stream's slot.

        A space cannot occur in a channel name, so these never name a stream.
        """
        stream = self.key(presence_channel(channel))
        return [f"{stream} {part}" for part in ("members", "counts", "connections", "expiries")] + [stream]

    def presence_index_key(self) -> str:
        """The sorted set of channels that have presence state, for the sweepers."""
        return self.prefix + "presence index"

    @abc.abstractmethod
    def append_args(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[EncodableT]:
        """ARGV for ``append_script``."""

    @abc.abstractmethod
    def decode_fields(self, channel: str, raw_id: bytes, fields: Sequence[bytes]) -> Entry:
        """One stream entry as read by XRANGE: its id and flat field/value list."""

    @abc.abstractmethod
    def decode_live(self, channel: str, message: bytes) -> list[Entry]:
        """The entries carried by one Pub/Sub message (none if it is not an event)."""

    def decode_stored(self, channel: str, raw: Sequence[Any]) -> list[Entry]:
        """The entries of an XRANGE/XREVRANGE reply, in its order."""
        return [self.decode_fields(channel, item[0], item[1]) for item in raw]


def _field(fields: Sequence[bytes], name: bytes) -> bytes | None:
    for index in range(0, len(fields) - 1, 2):
        if fields[index] == name:
            return fields[index + 1]
    return None


class TidingsLayout(Layout):
    name = "tidings"
    append_script = APPEND_TIDINGS
    presence_scripts = PresenceScripts(APPEND_TIDINGS, RECORD_TIDINGS)

    def append_args(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[EncodableT]:
        args = _retention_args(retention)
        for event, payload in records:
            args.append(event)
            args.append(payload)
        return args

    def decode_fields(self, channel: str, raw_id: bytes, fields: Sequence[bytes]) -> Entry:
        if len(fields) == 4 and fields[0] == b"event" and fields[2] == b"data":
            event, payload = fields[1], fields[3]
        else:  # written by something else: be lenient, let the schema judge
            event = _field(fields, b"event") or b""
            payload = _field(fields, b"data") or _NULL
        text, key = parse_raw_id(raw_id)
        return Entry(text, key, event.decode(errors="replace"), channel, payload)

    def decode_live(self, channel: str, message: bytes) -> list[Entry]:
        # Anyone who can reach Redis can publish on this name, so every field
        # is checked before it is trusted: a bad length would misframe the
        # rest, a bad id would move cursors past real events, and bad JSON
        # would reach browsers as is.
        entries: list[Entry] = []
        position, end = 0, len(message)
        if not end:
            raise MalformedMessageError("an empty message")
        last: IdKey | None = None
        while position < end:
            newline = message.find(b"\n", position, position + _MAX_HEADER)
            header = _RECORD_HEADER.fullmatch(message, position, newline) if newline >= 0 else None
            if header is None:
                raise MalformedMessageError(f"no '<id> <event size> <data size>' line at byte {position}")
            ms, seq, event_size, data_size = header.groups()
            text, key = _checked_id(ms, seq)
            if last is not None and key <= last:
                raise MalformedMessageError(f"id {text} does not follow {format_id(last)}")
            event_end = newline + 1 + int(event_size)
            position = event_end + int(data_size)
            if position > end:
                raise MalformedMessageError(f"the record of {text} runs past the end of the message")
            try:
                event = message[newline + 1 : event_end].decode()
            except UnicodeDecodeError:
                raise MalformedMessageError(f"the event name of {text} is not UTF-8") from None
            payload = message[event_end:position]
            _check_json(payload, text)
            entries.append(Entry(text, key, event, channel, payload))
            last = key
        return entries


class ShardedLayout(TidingsLayout):
    append_script = APPEND_TIDINGS_SHARDED
    presence_scripts = PresenceScripts(APPEND_TIDINGS_SHARDED, RECORD_TIDINGS)

    def key(self, channel: str) -> str:
        # A presence channel shares its channel's hash tag, so a channel's
        # stream, its presence stream and presence state live in one slot.
        suffix = ""
        if channel.endswith(PRESENCE_SUFFIX):
            channel, suffix = channel[: -len(PRESENCE_SUFFIX)], PRESENCE_SUFFIX
        return self.prefix + "{" + channel.replace("%", "%25").replace("}", "%7D") + "}" + suffix


def _read_like_upstash(value: bytes) -> bytes:
    """The original reads every field with "JSON.parse, else the raw string"."""
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return orjson.dumps(value.decode(errors="replace"))
    return value


class UpstashLayout(Layout):
    name = "upstash"
    append_script = APPEND_UPSTASH
    presence_scripts = PresenceScripts(APPEND_UPSTASH, RECORD_UPSTASH)

    def __init__(self, prefix: str = "") -> None:
        super().__init__(prefix)

    def append_args(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[EncodableT]:
        args = _retention_args(retention)
        args.append(channel)
        args.append(orjson.dumps(channel))
        for event, payload in records:
            # A JSON string is stored bare; anything else as its JSON text.
            stored = orjson.loads(payload).encode() if payload[:1] == b'"' else payload
            args.extend((event, stored, payload, orjson.dumps(event)))
        return args

    def decode_fields(self, channel: str, raw_id: bytes, fields: Sequence[bytes]) -> Entry:
        data = _field(fields, b"data")
        event = _field(fields, b"event") or b""
        text, key = parse_raw_id(raw_id)
        payload = _NULL if data is None else _read_like_upstash(data)
        return Entry(text, key, event.decode(errors="replace"), channel, payload)

    def decode_live(self, channel: str, message: bytes) -> list[Entry]:
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(body, dict):
            return []
        raw_id, event = body.get("id"), body.get("event")
        if not isinstance(raw_id, str) or not isinstance(event, str):
            return []  # not an event (the original also publishes other shapes)
        match = _ID.fullmatch(raw_id)
        if match is None:
            raise MalformedMessageError(f"id {raw_id[:45]!r} is not '<ms>-<seq>' in ASCII digits")
        text, key = _checked_id(match[1].encode(), match[2].encode())
        payload = orjson.dumps(body.get("data"))
        return [Entry(text, key, event, channel, payload)]


LAYOUTS: dict[str, type[Layout]] = {"tidings": TidingsLayout, "upstash": UpstashLayout}
