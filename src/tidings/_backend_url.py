"""Choosing a backend from a URL; optional dependencies are imported only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._exceptions import InvalidArgumentError, UsageError

if TYPE_CHECKING:
    from ._backend import Backend

# Every Redis scheme tidings accepts, mapped to the one redis-py speaks;
# valkey:// is an alias some deployments use.
REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "unix": "unix", "valkey": "redis", "valkeys": "rediss"}
CLUSTER_SCHEMES = {
    "redis+cluster": "redis",
    "rediss+cluster": "rediss",
    "valkey+cluster": "redis",
    "valkeys+cluster": "rediss",
}
# A Redis scheme with a variant (redis+cluster://, redis+sentinel://...): the
# Redis backend names the ones it does not support.
REDIS_VARIANTS = ("redis+", "rediss+", "valkey+", "valkeys+")


def backend_from_url(url: str) -> Backend:
    """``memory://``, a Redis URL (``redis://``, ``rediss://``, ``unix://``) or a
    Redis Cluster URL (``redis+cluster://host:port,host:port``)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgumentError("redis", f"must be a URL such as redis://localhost:6379/0, got {url!r}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from ._memory import MemoryBackend

        return MemoryBackend()
    if scheme in REDIS_SCHEMES or scheme.startswith(REDIS_VARIANTS):
        try:
            from .redis import RedisBackend, RedisClusterBackend
        except ImportError as exc:
            missing = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
            raise UsageError(
                f"the Redis backend needs the redis extra: pip install 'tidings[redis]' ({missing})"
            ) from None
        if scheme in CLUSTER_SCHEMES:
            return RedisClusterBackend.from_url(url)
        return RedisBackend.from_url(url)
    raise InvalidArgumentError(
        "redis",
        f"unsupported URL scheme {scheme!r}; use redis://, rediss://, unix://, redis+cluster:// or memory://",
    )
