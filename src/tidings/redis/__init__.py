"""The Redis backends (``pip install 'tidings[redis]'``).

    from tidings import Realtime
    realtime = Realtime(schema=schema, redis="redis://localhost:6379/0")
    realtime = Realtime(schema=schema, redis="redis+cluster://10.0.0.1:6379,10.0.0.2:6379")

or ``Realtime(backend=RedisBackend(url_or_client, prefix=..., layout=...))``,
``Realtime(backend=RedisClusterBackend(url, prefix=...))``.
"""

from tidings._extras import require_extra

require_extra("redis.asyncio", "redis", "tidings.redis")

from ._backend import RedisBackend, RedisStreamsBackend  # noqa: E402
from ._cluster import RedisClusterBackend  # noqa: E402

__all__ = ["RedisBackend", "RedisClusterBackend", "RedisStreamsBackend"]
