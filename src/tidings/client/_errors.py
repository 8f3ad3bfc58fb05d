"""Errors of the remote client; all are ``tidings.TidingsError``.

TidingsError
└── ClientError                 the remote stream failed
    ├── ConnectionRejectedError the endpoint refused the request (4xx): not retried
    ├── ConnectionFailedError   the endpoint stayed unreachable for max_attempts tries
    └── RemoteError             the endpoint sent an ``error`` frame
"""

from __future__ import annotations

from tidings import TidingsError


class ClientError(TidingsError):
    """Base class of the remote client's errors."""


class ConnectionRejectedError(ClientError):
    """The endpoint answered with a 4xx status; retrying the same request cannot help.

    ``status`` is the HTTP status, ``error`` the ``error`` text of its JSON body (or the raw body).
    """

    def __init__(self, url: str, status: int, error: str) -> None:
        super().__init__(f"{url} refused the stream with HTTP {status}: {error}")
        self.url = url
        self.status = status
        self.error = error


class ConnectionFailedError(ClientError):
    """Every attempt to (re)connect failed; ``__cause__`` is the last failure."""

    def __init__(self, url: str, attempts: int, reason: str) -> None:
        super().__init__(f"could not connect to {url} after {attempts} attempt(s): {reason}")
        self.url = url
        self.attempts = attempts


class RemoteError(ClientError):
    """The endpoint reported a problem in an ``{"type":"error"}`` frame (the stream goes on)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"the endpoint reported: {message}")
        self.message = message
