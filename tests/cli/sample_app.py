"""The ``APP`` the CLI tests name: ``tests.cli.sample_app:realtime``.

On the Redis given by ``SAMPLE_REDIS_URL`` (a test's own key prefix), else in memory.
"""

import os

from pydantic import BaseModel, Field

from tidings import Realtime


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=40)


schema = {"note": {"added": Note}, "counter": {"tick": int}}

realtime = Realtime(schema=schema, redis=os.environ.get("SAMPLE_REDIS_URL") or None)
in_memory = Realtime(schema=schema)
