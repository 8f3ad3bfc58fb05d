"""The Redis backend (``pip install 'tidings[redis]'``).

    from tidings import Realtime
    realtime = Realtime(schema=schema, redis="redis://localhost:6379/0")

or ``Realtime(backend=RedisBackend(url_or_client, prefix=..., layout=...))``.
"""

from ._backend import RedisBackend

__all__ = ["RedisBackend"]
