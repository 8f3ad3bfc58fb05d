"""Operations: liveness (``/healthz``), readiness (``/readyz``) and Prometheus metrics (``/metrics``).

``tidings serve`` serves all three. In an app of your own that mounts
``handle()``::

    from tidings.ops import OpsApp

    ops = OpsApp(realtime)  # /healthz, /readyz, /metrics
    app.router.routes.extend(ops.routes())  # Starlette / FastAPI; or route those paths to ``ops``

Metrics need ``pip install 'tidings[metrics]'`` (``prometheus_client``);
``prometheus_client`` is imported only when a metrics handler is made.
See docs/operations.md for every metric and for workers.
"""

from ._app import DEFAULT_HEALTHZ, DEFAULT_METRICS, DEFAULT_READYZ, OpsApp
from ._health import Liveness, Readiness
from ._metrics import TidingsCollector
from ._share import WorkerShare

__all__ = [
    "DEFAULT_HEALTHZ",
    "DEFAULT_METRICS",
    "DEFAULT_READYZ",
    "Liveness",
    "OpsApp",
    "Readiness",
    "TidingsCollector",
    "WorkerShare",
]
