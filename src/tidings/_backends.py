"""Choosing a backend from a URL; optional dependencies are imported only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._exceptions import InvalidArgumentError, UsageError

if TYPE_CHECKING:
    from ._backend import Backend

REDIS_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")


def backend_from_url(url: str) -> Backend:
    """``memory://`` or a Redis URL (``redis://``, ``rediss://``, ``unix://``)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgumentError("redis", f"must be a URL such as redis://localhost:6379/0, got {url!r}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from ._memory import MemoryBackend

        return MemoryBackend()
    if scheme in REDIS_SCHEMES or scheme.startswith("redis+"):
        try:
            from .redis import RedisBackend
        except ImportError as exc:
            raise UsageError(
                f"the Redis backend needs the redis extra: pip install 'tidings[redis]' ({exc})"
            ) from None
        return RedisBackend.from_url(url)
    raise InvalidArgumentError(
        "redis", f"unsupported URL scheme {scheme!r}; use redis://, rediss://, unix:// or memory://"
    )
