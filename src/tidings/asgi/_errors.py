"""A request the endpoint refuses: the status and the message of its JSON error body."""

from __future__ import annotations


class BadRequest(Exception):
    """Raised while reading a request; the endpoint answers ``status`` with ``{"error": message}``.

    Internal to ``tidings.asgi``: it never reaches application code.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
