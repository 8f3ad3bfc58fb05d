"""What ``tidings serve`` runs: the SSE endpoint, a small bearer-protected JSON API, the server.

    from tidings.server import JsonApi
    api = JsonApi(realtime, token=os.environ["TIDINGS_API_TOKEN"], base="/api/realtime")
    # api.router answers POST /api/realtime/emit and GET /api/realtime/history

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
