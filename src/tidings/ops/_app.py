"""``OpsApp``: health, readiness and metrics at exact paths, as one plain ASGI app.

For an app that mounts ``handle()`` itself; ``tidings serve`` adds the same
handlers to its ``ServerApp``. No framework needed: route the three paths to
it (or add ``ops.routes()`` to a Starlette/FastAPI app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings.asgi import Response
from tidings.asgi._types import ASGIApp, Receive, Scope, Send

from ._health import DEFAULT_READY_TIMEOUT, Liveness, Readiness, never
from ._metrics import MetricsEndpoint, MissingMetrics, TidingsCollector
from ._responses import answer
from ._share import WorkerShare

if TYPE_CHECKING:
    from starlette.routing import Route

    from tidings._realtime import Realtime

DEFAULT_HEALTHZ = "/healthz"
DEFAULT_READYZ = "/readyz"
DEFAULT_METRICS = "/metrics"


class OpsApp:
    """``GET healthz`` (200 while serving), ``GET readyz`` (200 while ``realtime``'s backend
    answers), ``GET metrics`` (Prometheus text); any other path is a 404.

    A path given as None is not served. Metrics need ``prometheus_client``
    (``pip install 'tidings[metrics]'``): without it ``ModuleNotFoundError``
    names the extra, unless ``metrics_optional`` -- then ``/metrics``
    answers 501 with that advice instead (what ``tidings serve`` does).
    ``share`` sums a multi-worker server's numbers (``WorkerShare``).
    """

    def __init__(
        self,
        realtime: Realtime,
        *,
        healthz: str | None = DEFAULT_HEALTHZ,
        readyz: str | None = DEFAULT_READYZ,
        metrics: str | None = DEFAULT_METRICS,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        shutting_down: Callable[[], bool] = never,
        share: WorkerShare | None = None,
        metrics_optional: bool = False,
    ) -> None:
        self.readiness = Readiness(realtime, timeout=ready_timeout, shutting_down=shutting_down)
        handlers: dict[str, ASGIApp] = {}
        if healthz is not None:
            handlers[check_ops_path("healthz", healthz)] = Liveness()
        if readyz is not None:
            handlers[check_ops_path("readyz", readyz)] = self.readiness
        if metrics is not None:
            handlers[check_ops_path("metrics", metrics)] = _metrics_endpoint(share, optional=metrics_optional)
        if len(handlers) != sum(path is not None for path in (healthz, readyz, metrics)):
            raise ValueError(
                f"healthz, readyz and metrics need distinct paths, got {healthz}, {readyz}, {metrics}"
            )
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        handler = self.handlers.get(scope["path"])
        if handler is None:
            await answer(scope, receive, send, Response(404, {"error": f"no route for {scope['path']}"}))
            return
        await handler(scope, receive, send)

    def routes(self) -> list[Route]:
        """The handlers as Starlette routes (``app.router.routes.extend(ops.routes())``)."""
        from starlette.routing import Route

        # No ``methods=``: each handler answers other methods itself (405 naming GET).
        return [Route(path, handler) for path, handler in self.handlers.items()]


def _metrics_endpoint(share: WorkerShare | None, *, optional: bool) -> ASGIApp:
    from tidings._counters import COUNTERS

    try:
        if share is None:
            collector = TidingsCollector(COUNTERS.snapshot)
        else:
            collector = TidingsCollector(share.combined, workers=share.workers)
    except ModuleNotFoundError:
        if not optional:
            raise
        return MissingMetrics()
    return MetricsEndpoint(collector)


def check_ops_path(name: str, path: str) -> str:
    """A path of one of the three handlers: starts with '/', no trailing '/', no query."""
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or path == "/"
        or path.endswith("/")
        or "?" in path
    ):
        raise ValueError(f"{name} path must look like /{name} (no trailing '/', no query), got {path!r}")
    return path
