"""Positions a stream starts from, and the cursor carried in each frame's ``id:`` line.

A browser's ``EventSource`` reconnects on its own, to the URL it was first
given, sending back the last ``id:`` it saw as ``Last-Event-ID``. So each
user event's ``id:`` holds the position of EVERY channel of the connection,
and a reconnect resumes all of them without a gap.

Cursor format (URL- and header-safe, at most ~50 bytes per channel)::

    <tag><ms>-<seq>[.<tag><ms>-<seq>...]

``tag`` is 8 base64url characters of a BLAKE2b hash of the channel name, so
the size does not grow with long channel names. The reconnect request names
its channels again, which maps tags back to names; a tag no requested channel
has is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

from tidings._exceptions import InvalidArgumentError
from tidings._ids import MAX_PART, IdKey, now_ms, parse_id

from ._errors import BadRequest

TAG_LENGTH = 8
# One part: a tag, then "<ms>-<seq>" with 20 digits each at most (two 64-bit parts).
_MAX_PART_LENGTH = TAG_LENGTH + 20 + 1 + 20
# [0-9], not \d: \d (and int()) also take other scripts' digits.
_PART_RE = re.compile(r"\A([A-Za-z0-9_-]{8})([0-9]{1,20}-[0-9]{1,20})\Z")
_MS_RE = re.compile(r"\A[0-9]{1,20}\Z")


@lru_cache(maxsize=4096)
def channel_tag(channel: str) -> str:
    digest = hashlib.blake2b(channel.encode("utf-8"), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def max_cursor_length(max_channels: int) -> int:
    """The longest cursor a connection of ``max_channels`` channels is ever sent: its parts and dots."""
    return max_channels * (_MAX_PART_LENGTH + 1) - 1


def encode_cursor(parts: Sequence[str]) -> str:
    """Join ``channel_tag(c) + id`` parts into one ``id:`` value."""
    return ".".join(parts)


def decode_cursor(
    value: str, channels: Sequence[str], *, max_channels: int | None = None
) -> dict[str, IdKey]:
    """The positions a ``Last-Event-ID`` gives for the requested ``channels``.

    With ``max_channels``, a value longer than any cursor of that many
    channels is refused (431) before it is split.
    """
    if max_channels is not None and len(value) > (bound := max_cursor_length(max_channels)):
        raise BadRequest(
            f"Last-Event-ID is {len(value)} bytes; a cursor is at most {bound} bytes "
            f"(~50 per channel, {max_channels} channels: max_channels)",
            431,
        )
    by_tag = {channel_tag(channel): channel for channel in channels}
    positions: dict[str, IdKey] = {}
    for part in value.split("."):
        match = _PART_RE.match(part)
        if match is None:
            raise BadRequest(
                f"Last-Event-ID {value[:120]!r} is not a cursor this endpoint issued "
                "(expected <tag><ms>-<seq> parts joined by '.')"
            )
        channel = by_tag.get(match[1])
        if channel is not None:
            try:
                positions[channel] = parse_id(match[2], argument="Last-Event-ID")
            except InvalidArgumentError:
                raise BadRequest(
                    f"Last-Event-ID part {part!r} is out of range (64-bit parts, at most {MAX_PART})"
                ) from None
    return positions


def parse_last_ack(channel: str, value: str) -> IdKey | None:
    """A ``last_ack_<channel>`` value as the position to replay after.

    An id ``"<ms>-<seq>"`` is the last event the client saw. A bare
    millisecond timestamp ``T`` means "everything stored after ms T", i.e.
    after ``T-<max>``. A timestamp that is not yet in the past gives ``None``
    (start live): the browser sends its own ``Date.now()``, and a clock ahead
    of the server's must not hide the events stored until the server's clock
    catches up.
    """
    if _MS_RE.match(value):
        ms = int(value)
        if ms > MAX_PART:
            raise BadRequest(f"last_ack_{channel}: {value!r} is out of range (64-bit milliseconds)")
        return (ms, MAX_PART) if ms < now_ms() else None
    try:
        return parse_id(value, argument=f"last_ack_{channel}")
    except ValueError:
        raise BadRequest(
            f"last_ack_{channel}: {value[:60]!r} is neither an event id '<ms>-<seq>' "
            "nor a millisecond timestamp"
        ) from None
