"""Presence: who is on a channel now, as members and as join/leave events.

The model (docs/presence.md): a *connection* is one entry of a client into a
channel (a browser stream, an ``enter()`` call). A *member* is a client id
with at least one live connection; it joins with its first connection and
leaves with its last. Each connection expires ``presence_ttl`` seconds after
its last heartbeat, so a process that dies takes its members with it.

Joins and leaves are ordinary stored events on a companion channel,
``<channel>~presence`` (``presence_channel``): subscribing to them, their
history, ``Last-Event-ID`` and resume are those of any channel, and a
subscriber that does not ask for them sees nothing new. Users cannot emit on
a companion channel; only the backend's presence operations write to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from ._exceptions import InvalidArgumentError, InvalidChannelError
from ._ids import now_ms
from ._limits import PRESENCE_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Generator

    from ._realtime import Realtime


JOIN_EVENT = "presence.join"
LEAVE_EVENT = "presence.leave"


def presence_channel(channel: str) -> str:
    """The name of ``channel``'s presence channel, where its joins and leaves are stored."""
    if is_presence_channel(channel):
        raise InvalidChannelError(channel, f"is already a presence channel (ends with {PRESENCE_SUFFIX!r})")
    return channel + PRESENCE_SUFFIX


def is_presence_channel(name: str) -> bool:
    return name.endswith(PRESENCE_SUFFIX)


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a channel: its ``client_id``, the JSON ``info`` given on entry,
    and ``since`` (Unix ms) when its first connection entered."""

    client_id: str
    info: Any
    since: int

    def to_dict(self) -> dict[str, Any]:
        """``{client_id, info, since}``: the data of its join and leave events."""
        return {"client_id": self.client_id, "info": self.info, "since": self.since}


def encode_member(client_id: str, info: Any, *, max_info_bytes: int, max_client_id_length: int) -> bytes:
    """A new member's JSON (the data of its join event), checked against the limits."""
    if not isinstance(client_id, str) or not client_id:
        raise InvalidArgumentError("client_id", f"must be a non-empty str, got {client_id!r}")
    if len(client_id) > max_client_id_length:
        raise InvalidArgumentError(
            "client_id",
            f"{len(client_id)} characters; the limit is {max_client_id_length} "
            "(Limits.max_presence_client_id_length)",
        )
    try:
        info_json = orjson.dumps(info)
    except TypeError as exc:
        raise InvalidArgumentError("info", f"must be JSON-serialisable: {exc}") from None
    if len(info_json) > max_info_bytes:
        raise InvalidArgumentError(
            "info",
            f"{len(info_json)} bytes as JSON; the limit is {max_info_bytes} (Limits.max_presence_info_bytes)",
        )
    return orjson.dumps({"client_id": client_id, "info": orjson.Fragment(info_json), "since": now_ms()})


def decode_member(raw: bytes) -> Member:
    body = orjson.loads(raw)
    return Member(str(body["client_id"]), body.get("info"), int(body["since"]))


def new_connection_id() -> str:
    return uuid.uuid4().hex


class Membership:
    """One connection of a client in a channel: what ``channel.enter()`` gives.

    ``await membership.leave()`` ends it (idempotent); the member leaves when
    its last connection does. Also an async context manager that leaves on exit.
    """

    __slots__ = ("_channel", "_client_id", "_connection_id", "_left", "_realtime")

    def __init__(self, realtime: Realtime, channel: str, client_id: str, connection_id: str) -> None:
        self._realtime = realtime
        self._channel = channel
        self._client_id = client_id
        self._connection_id = connection_id
        self._left = False

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def connection_id(self) -> str:
        return self._connection_id

    def __repr__(self) -> str:
        return f"Membership({self._channel!r}, {self._client_id!r})"

    async def leave(self) -> None:
        if not self._left:
            self._left = True
            await self._realtime._presence.leave(self._channel, [self._connection_id])

    def abandon(self) -> None:
        """Stop heartbeating this connection without leaving; it expires after the presence TTL.

        What a server does with its streams' connections when it shuts down:
        clients reconnect to another process within the TTL, and their
        members stay without a leave and a new join.
        """
        if not self._left:
            self._left = True
            self._realtime._presence.abandon(self._channel, [self._connection_id])

    async def __aenter__(self) -> Membership:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.leave()


class Entering:
    """What ``channel.enter()`` returns: ``await`` it for a ``Membership``, or
    ``async with channel.enter(...) as membership:`` to leave at the end of the block."""

    __slots__ = ("_channel", "_client_id", "_info", "_membership", "_realtime")

    def __init__(self, realtime: Realtime, channel: str, client_id: str, info: Any) -> None:
        self._realtime = realtime
        self._channel = channel
        self._client_id = client_id
        self._info = info
        self._membership: Membership | None = None

    async def _enter(self) -> Membership:
        return await self._realtime._presence.enter(self._channel, self._client_id, self._info)

    def __await__(self) -> Generator[Any, None, Membership]:
        return self._enter().__await__()

    async def __aenter__(self) -> Membership:
        self._membership = await self._enter()
        return self._membership

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._membership is not None:
            await self._membership.leave()
