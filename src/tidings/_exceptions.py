"""Every error tidings raises, under one base class.

    TidingsError
    ├── UsageError                  the API was called in a way it cannot honour
    │   ├── ClosedError             the Realtime / subscription was already closed
    │   └── WrongEventLoopError     used from an event loop other than its own
    ├── InvalidInputError (+ValueError)  bad input, rejected before anything is stored
    │   ├── SchemaError             malformed schema given to Realtime(...)
    │   ├── UnknownEventError       event name not in the schema
    │   ├── InvalidDataError        data does not match the event's schema
    │   ├── PayloadTooLargeError    serialised data over the configured limit
    │   ├── InvalidChannelError     channel name breaks the naming rules
    │   └── InvalidArgumentError    a bad option (history limit, cursor id, ...)
    ├── CursorExpiredError          a resume cursor predates the retained history
    ├── EventsLostError             a subscriber could not be resynced: events were lost
    ├── InvalidStoredDataError      a stored event no longer matches the schema
    ├── BackendError                the storage backend failed
    │   ├── BackendUnavailableError the backend cannot be reached (within the timeout)
    │   └── BackendConfigurationError  the backend refused: wrong database, credentials, ACL, key type
    ├── AppLoadError                ``tidings serve APP``: APP does not name a Realtime
    └── ServerError                 the server (``tidings.server``) could not start
        └── StartupError            a startup hook refused (the backend is unreachable...)

Catch ``TidingsError`` for everything; ``InvalidInputError`` is also a
``ValueError`` so code written against plain Python conventions keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TidingsError(Exception):
    """Base class of every error raised by tidings."""


class UsageError(TidingsError):
    """The API was called in a way it cannot honour."""


class ClosedError(UsageError):
    """The object was closed; a closed Realtime or subscription cannot be reused."""


class WrongEventLoopError(UsageError):
    """A Realtime is bound to the event loop that first used it."""


class InvalidInputError(TidingsError, ValueError):
    """Input was rejected before anything was stored or delivered."""


class SchemaError(InvalidInputError):
    """The schema given to ``Realtime(schema=...)`` is malformed.

    ``path`` is the dotted path of the offending entry (empty for the root).
    """

    def __init__(self, path: str, problem: str) -> None:
        where = f"schema entry {path!r}" if path else "schema"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.problem = problem


class UnknownEventError(InvalidInputError):
    """The event name is not declared in the schema."""

    def __init__(self, event: str, known: Sequence[str]) -> None:
        shown = ", ".join(sorted(known)[:20])
        more = "" if len(known) <= 20 else f", ... ({len(known)} in all)"
        super().__init__(f"unknown event {event!r}; the schema declares: {shown}{more}")
        self.event = event


class InvalidDataError(InvalidInputError):
    """The data does not match the schema of its event.

    ``errors`` is pydantic's list of error dicts (``loc``, ``msg``, ``type``...).
    """

    def __init__(self, event: str, errors: Sequence[dict[str, Any]]) -> None:
        details = "; ".join(_describe(err) for err in errors[:5])
        more = "" if len(errors) <= 5 else f"; ... ({len(errors)} errors in all)"
        super().__init__(f"invalid data for event {event!r}: {details}{more}")
        self.event = event
        self.errors = list(errors)


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    field = f"field {loc!r}" if loc else "value"
    return f"{field}: {error.get('msg', 'invalid')}"


class PayloadTooLargeError(InvalidInputError):
    """The serialised data is larger than ``Limits.max_payload_bytes``."""

    def __init__(self, event: str, size: int, limit: int) -> None:
        super().__init__(
            f"data for event {event!r} is {size} bytes as JSON; the limit is {limit} bytes "
            "(Limits.max_payload_bytes)"
        )
        self.event = event
        self.size = size
        self.limit = limit


class InvalidChannelError(InvalidInputError):
    """The channel name breaks the naming rules of ``Limits``."""

    def __init__(self, channel: str, problem: str) -> None:
        super().__init__(f"invalid channel name {channel!r}: {problem}")
        self.channel = channel


class InvalidArgumentError(InvalidInputError):
    """An option has a bad value; ``argument`` names it."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


class CursorExpiredError(TidingsError):
    """Events after ``cursor`` were already trimmed from the channel's history.

    Resuming from it would leave a silent gap, so tidings refuses.
    ``oldest`` is the oldest id the history still holds (None if it is empty);
    ``removed_up_to`` is the newest id retention removed, the first cursor
    from which resuming is gap-free again.
    """

    def __init__(self, channel: str, cursor: str, oldest: str | None, removed_up_to: str) -> None:
        super().__init__(
            f"cannot resume channel {channel!r} after {cursor}: history no longer holds "
            f"the events that followed it (oldest retained id: {oldest}); raise max_length "
            "or expire_after_secs to keep more history"
        )
        self.channel = channel
        self.cursor = cursor
        self.oldest = oldest
        self.removed_up_to = removed_up_to


class EventsLostError(TidingsError):
    """A subscriber fell behind further than history could cover; events were lost.

    Delivery continues from ``resumed_from`` (the oldest retained event).
    """

    def __init__(self, channel: str, last_seen: str | None, resumed_from: str | None) -> None:
        super().__init__(
            f"subscriber on channel {channel!r} lost events after {last_seen}: it fell "
            "behind and history had already been trimmed; delivery resumes at "
            f"{resumed_from}"
        )
        self.channel = channel
        self.last_seen = last_seen
        self.resumed_from = resumed_from


class InvalidStoredDataError(TidingsError):
    """A stored event cannot be parsed with the current schema."""

    def __init__(self, channel: str, event_id: str, event: str, reason: str) -> None:
        super().__init__(
            f"stored event {event_id} ({event!r}) on channel {channel!r} does not match the schema: {reason}"
        )
        self.channel = channel
        self.id = event_id
        self.event = event


class BackendError(TidingsError):
    """The storage backend failed."""


class BackendUnavailableError(BackendError):
    """The backend could not be reached within the configured timeout."""


class BackendConfigurationError(BackendError):
    """The backend refused for a reason retrying cannot fix: its configuration or its data.

    A wrong database number, a missing or wrong password, an ACL that denies a
    command tidings needs, a key of another type where a channel's history
    belongs. Raised at once, not after ``command_timeout``; the message names
    the likely cause and ``__cause__`` is the backend's own error.
    """


class AppLoadError(TidingsError):
    """``APP`` (``module:attribute``) does not name a ``Realtime``; the message says what is wrong."""


class ServerError(TidingsError):
    """The server could not start (port taken, no permission...); one line for the operator."""


class StartupError(ServerError):
    """A startup hook failed in a way worth one line to the operator (backend unreachable...)."""
