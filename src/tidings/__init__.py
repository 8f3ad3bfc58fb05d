"""tidings: typed realtime events for Python.

Emit events to named channels, subscribe with callbacks or ``async for``,
read history, and replay-then-live with no gap and no duplicate -- on an
embedded in-memory backend or on Redis.
"""

from ._backend import Backend, BackendStatus, Entry, LiveListener, LiveSubscription, Retention
from ._channel import Channel, StreamContext
from ._delivery import Stream, Subscription
from ._exceptions import (
    BackendConfigurationError,
    BackendError,
    BackendUnavailableError,
    ClosedError,
    CursorExpiredError,
    EventsLostError,
    InvalidArgumentError,
    InvalidChannelError,
    InvalidDataError,
    InvalidInputError,
    InvalidStoredDataError,
    PayloadTooLargeError,
    SchemaError,
    TidingsError,
    UnknownEventError,
    UsageError,
    WrongEventLoopError,
)
from ._limits import PRESENCE_SUFFIX, Limits
from ._memory import MemoryBackend
from ._message import HistoryMessage, Message
from ._presence import JOIN_EVENT, LEAVE_EVENT, Entering, Member, Membership, presence_channel
from ._realtime import DEFAULT_CHANNEL, DEFAULT_PRESENCE_RETENTION, Realtime
from ._sync import SyncChannel, SyncRealtime
from ._version import __version__

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_PRESENCE_RETENTION",
    "JOIN_EVENT",
    "LEAVE_EVENT",
    "PRESENCE_SUFFIX",
    "Backend",
    "BackendConfigurationError",
    "BackendError",
    "BackendStatus",
    "BackendUnavailableError",
    "Channel",
    "ClosedError",
    "CursorExpiredError",
    "Entry",
    "Entering",
    "EventsLostError",
    "HistoryMessage",
    "InvalidArgumentError",
    "InvalidChannelError",
    "InvalidDataError",
    "InvalidInputError",
    "InvalidStoredDataError",
    "Limits",
    "LiveListener",
    "LiveSubscription",
    "Member",
    "Membership",
    "MemoryBackend",
    "Message",
    "PayloadTooLargeError",
    "Realtime",
    "Retention",
    "SchemaError",
    "Stream",
    "StreamContext",
    "Subscription",
    "SyncChannel",
    "SyncRealtime",
    "TidingsError",
    "UnknownEventError",
    "UsageError",
    "WrongEventLoopError",
    "__version__",
    "presence_channel",
]
