"""Apps as a user writes them, for ``uvicorn tests.asgi.plain_app:APP`` in a process of its own.

``mounted``: ``handle()`` mounted in a Starlette app (Starlette does not
forward lifespan events to it). ``bare``: ``handle()`` as the whole app.
"""

from starlette.applications import Starlette
from starlette.routing import Mount

from tidings import Realtime
from tidings.asgi import handle

realtime = Realtime(schema={"counter": {"tick": int}})
mounted = Starlette(routes=[Mount("/api/realtime", handle(realtime))])
bare = handle(realtime)
