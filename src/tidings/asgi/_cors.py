"""Which cross-origin pages may read the stream.

Default: none (same-origin only, no ``Access-Control-Allow-Origin``). The
original server hard-codes ``*``; here that happens only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable

from tidings._exceptions import InvalidArgumentError

_PREFLIGHT_MAX_AGE = "600"


class CorsPolicy:
    """``origins``: exact origins (``"https://app.example.com"``), or ``"*"`` for any.

    ``credentials=True`` lets pages use ``withCredentials`` (cookies); the
    browser then needs the exact origin echoed, never ``*``.
    """

    __slots__ = ("any_origin", "credentials", "origins")

    def __init__(self, origins: str | Iterable[str] | None = None, *, credentials: bool = False) -> None:
        if origins is None:
            listed: list[str] = []
        elif isinstance(origins, str):
            listed = [origins]
        else:
            listed = list(origins)
        for origin in listed:
            if not isinstance(origin, str) or (origin != "*" and "://" not in origin):
                raise InvalidArgumentError(
                    "cors_origins", f"{origin!r} is not an origin such as 'https://app.example.com' or '*'"
                )
        self.any_origin = "*" in listed
        self.origins = frozenset(origin.rstrip("/") for origin in listed if origin != "*")
        self.credentials = credentials

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        """Headers for a response to a request from ``origin`` (nothing if it is not allowed)."""
        if origin is None or not self.allows(origin):
            return []
        if self.any_origin and not self.credentials:
            return [(b"access-control-allow-origin", b"*")]
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    def preflight_headers(self, requested_headers: str | None) -> list[tuple[bytes, bytes]]:
        """Headers a preflight answer adds to those of ``headers(origin)``."""
        headers = [(b"access-control-allow-methods", b"GET, OPTIONS")]
        if requested_headers:
            # Only GET is served and it changes nothing, so any header the page
            # wants to send (Last-Event-ID, Authorization, ...) is fine.
            headers.append((b"access-control-allow-headers", requested_headers.encode("latin-1")))
        headers.append((b"access-control-max-age", _PREFLIGHT_MAX_AGE.encode("ascii")))
        return headers
