"""The configurable limits of a ``Realtime`` and the checks that enforce them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ._checks import positive_int
from ._exceptions import InvalidArgumentError, InvalidChannelError

PRESENCE_SUFFIX = "~presence"
"""Appended to a channel's name to name its presence channel (see ``tidings._presence``)."""

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a ``Realtime`` accepts. Every field can be changed.

    max_payload_bytes:
        largest JSON encoding of one event's data (default 1 MiB).
    max_channel_length:
        longest channel name, in characters (default 256).
    max_event_length:
        longest event name when no schema declares the names (default 256).
    history_limit:
        largest ``limit`` a history read may ask for; also the default limit
        (1000, as in ``@upstash/realtime``).
    subscriber_queue:
        events buffered per subscription before it counts as a slow consumer
        and is resynced from history (default 10 000).
    max_batch:
        most events one ``emit_many`` call may append (default 1000).
    max_presence_members:
        most members ``channel.presence()`` lists (default 1000; also its
        default ``limit``). ``presence_count()`` has no such bound.
    max_presence_info_bytes:
        largest JSON encoding of a member's ``info`` (default 4096).
    max_presence_client_id_length:
        longest presence client id, in characters (default 256).

    What data JSON can carry (no NaN, integers within -2**63 .. 2**64-1, ...)
    is not a limit to tune but a rule of every reader; see ``tidings._json``
    and the README's "Data rules".
    """

    max_payload_bytes: int = 1 * MIB
    max_channel_length: int = 256
    max_event_length: int = 256
    history_limit: int = 1000
    subscriber_queue: int = 10_000
    max_batch: int = 1000
    max_presence_members: int = 1000
    max_presence_info_bytes: int = 4096
    max_presence_client_id_length: int = 256

    def __post_init__(self) -> None:
        for name in (
            "max_payload_bytes",
            "max_channel_length",
            "max_event_length",
            "history_limit",
            "subscriber_queue",
            "max_batch",
            "max_presence_members",
            "max_presence_info_bytes",
            "max_presence_client_id_length",
        ):
            positive_int(f"Limits.{name}", getattr(self, name))

    def check_channel(self, name: object) -> str:
        """Return ``name`` if it is a valid channel name, else raise ``InvalidChannelError``.

        Channel names travel in URLs, SSE query parameter names and Redis keys:
        no whitespace or control characters, so they survive all three intact.
        """
        if not isinstance(name, str):
            raise InvalidChannelError(repr(name), f"must be a str, got {type(name).__name__}")
        if not name:
            raise InvalidChannelError(name, "must not be empty")
        # A presence channel ("<channel>~presence") may exceed the limit by its suffix.
        longest = self.max_channel_length + (len(PRESENCE_SUFFIX) if name.endswith(PRESENCE_SUFFIX) else 0)
        if len(name) > longest:
            raise InvalidChannelError(
                name[:40] + "...",
                f"{len(name)} characters; the limit is {self.max_channel_length} (Limits.max_channel_length)",
            )
        bad = _first_forbidden(name)
        if bad is not None:
            raise InvalidChannelError(
                name, f"contains {bad}; whitespace and control characters are not allowed"
            )
        return name

    def check_event_name(self, name: object) -> str:
        """Validate an event name used without a schema (same character rules)."""
        if not isinstance(name, str):
            raise InvalidArgumentError("event", f"must be a str, got {type(name).__name__}")
        if not name:
            raise InvalidArgumentError("event", "must not be empty")
        if len(name) > self.max_event_length:
            raise InvalidArgumentError(
                "event",
                f"{len(name)} characters; the limit is {self.max_event_length} (Limits.max_event_length)",
            )
        bad = _first_forbidden(name)
        if bad is not None:
            raise InvalidArgumentError("event", f"{name!r} contains {bad}")
        return name


def _forbidden(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _first_forbidden(name: str) -> str | None:
    if name.isascii() and name.isprintable() and " " not in name:
        # The common case, checked in C (this runs on every emit): printable
        # ASCII holds no control character, and its only whitespace is " ".
        return None
    for index, char in enumerate(name):
        if _forbidden(char):
            kind = "whitespace" if char.isspace() else "a control character"
            return f"{kind} {char!r} at index {index}"
    return None
