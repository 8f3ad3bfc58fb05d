"""Building the server's ASGI app from a ``ServeConfig`` (in the server process or a worker)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings._exceptions import BackendConfigurationError, TidingsError
from tidings._waiting import notice_if_slow, waiting_for
from tidings.asgi import RealtimeEndpoint, handle
from tidings.ops import OpsApp, WorkerShare

from ._api import JsonApi
from ._app import ServerApp, StartupError
from ._config import CONFIG_ENV, ServeConfig
from ._loader import load_realtime

if TYPE_CHECKING:
    from tidings._realtime import Realtime

DEMO_STREAM_PATH = "/demo/stream"
_PROBE_CHANNEL = "tidings-startup-probe"


def build_app(config: ServeConfig) -> ServerApp:
    """The app for ``config``: the SSE endpoint, the JSON API if a token is set, the demo if asked.

    An ordinary Starlette app: add routes to it, or mount it in another app
    (then run its lifespan from that app's, as Starlette does not).
    """
    from tidings.demo import PRESENCE_GRACE, DemoSite, demo_realtime

    # The same endpoints serve under uvicorn and under the native server.
    endpoint: Callable[..., RealtimeEndpoint] = handle
    app = ServerApp()
    limits = {
        "max_header_size": config.max_header_size,
        "request_timeout": config.request_timeout,
        "keepalive_timeout": config.keepalive_timeout,
        "max_keepalive_requests": config.max_keepalive_requests,
    }
    app.native_options = {name: value for name, value in limits.items() if value is not None}
    if config.app is None:
        realtime = demo_realtime(redis=config.redis)
    else:
        realtime = load_realtime(config.app, app_dir=config.app_dir)
    app.on_startup(lambda: _probe(realtime))
    app.on_shutdown(realtime.aclose)
    cors_origins = list(config.cors_origins) or None
    site: DemoSite | None = None
    if config.demo and config.app is None:
        site = DemoSite(realtime, stream_url=config.path)
        # The page's streams are present in their room (docs/presence.md).
        app.add_stream(
            config.path,
            endpoint(
                realtime, cors_origins=cors_origins, presence=site.identify, presence_grace=PRESENCE_GRACE
            ),
        )
    else:
        app.add_stream(config.path, endpoint(realtime, cors_origins=cors_origins))
    _add_ops(app, realtime, config)
    if config.api_token is not None:
        app.add_router(JsonApi(realtime, token=config.api_token, base=config.path).router)
    if config.demo:
        if site is None:
            # The demo's events are not in the app's schema: they get their
            # own Realtime over the same backend, and their own endpoint.
            demo = demo_realtime(backend=realtime.backend)
            app.on_shutdown(demo.aclose)
            site = DemoSite(demo, stream_url=DEMO_STREAM_PATH)
            app.add_stream(
                DEMO_STREAM_PATH, endpoint(demo, presence=site.identify, presence_grace=PRESENCE_GRACE)
            )
        app.add_router(site.router)
        app.on_shutdown(site.aclose)
    return app


def _add_ops(app: ServerApp, realtime: Realtime, config: ServeConfig) -> None:
    """Health, readiness and metrics (summed over workers when there are several)."""
    share = None
    if config.metrics_dir is not None and config.metrics_path is not None:
        share = WorkerShare(config.metrics_dir)
        app.on_startup(share.start)
        app.on_shutdown(share.stop)
    ops = OpsApp(
        realtime,
        healthz=config.healthz_path,
        readyz=config.readyz_path,
        metrics=config.metrics_path,
        ready_timeout=config.ready_timeout,
        shutting_down=lambda: app.shutting_down,
        share=share,
        metrics_optional=True,
    )
    app.add_ops(ops)


def app_from_environment() -> ServerApp:
    """uvicorn's app factory in worker processes."""
    return build_app(ServeConfig.from_json(os.environ[CONFIG_ENV]))


async def _probe(realtime: Realtime) -> None:
    """One history read, so an unreachable backend stops startup with a clear line."""
    try:
        async with notice_if_slow(waiting_for(realtime.backend), _to_stderr):
            await realtime.channel(_PROBE_CHANNEL).history(limit=1)
    except BackendConfigurationError as exc:  # reached, and refused: not a reachability problem
        raise StartupError(f"the event backend refused tidings: {exc}") from None
    except TidingsError as exc:
        raise StartupError(f"cannot reach the event backend: {exc}") from None


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
