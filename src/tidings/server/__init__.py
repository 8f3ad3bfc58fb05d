"""What ``tidings serve`` runs: the SSE endpoint, a small bearer-protected JSON API, the server.

    from tidings.server import JsonApi
    api = JsonApi(realtime, token=os.environ["TIDINGS_API_TOKEN"], base="/api/realtime")
    app = Starlette(routes=[*api.routes, ...])  # POST /api/realtime/emit, GET /api/realtime/history

``build_app(ServeConfig(...))`` is the whole app of ``tidings serve``: a
Starlette app (``ServerApp``) to extend or mount (docs/cli.md), with
``/healthz``, ``/readyz`` and ``/metrics`` (``tidings.ops``, docs/operations.md).

Needs ``pip install 'tidings[server]'`` to run: uvicorn (``_run``), or with
``--native`` tidings' own asyncio server (``_native_run``, ``_workers``).
"""

from ._api import JsonApi, check_api_token
from ._app import ServerApp
from ._config import DEFAULT_PATH, ServeConfig
from ._factory import build_app
from ._loader import AppLoadError, load_realtime

__all__ = [
    "DEFAULT_PATH",
    "AppLoadError",
    "JsonApi",
    "ServeConfig",
    "ServerApp",
    "build_app",
    "check_api_token",
    "load_realtime",
]
