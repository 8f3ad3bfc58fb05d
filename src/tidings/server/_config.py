"""What ``tidings serve`` / ``tidings demo`` run, in a form that crosses into worker processes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

CONFIG_ENV = "TIDINGS_SERVE_CONFIG"
DEFAULT_PATH = "/api/realtime"


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """``app`` (``module:attr`` of a ``Realtime``) or ``demo=True`` without it for ``tidings demo``.

    path: where the SSE endpoint is served; the JSON API sits under it.
    api_token: enables the JSON API (``<path>/emit``, ``<path>/history``).
    demo: also serve the demo page (``/``) and its routes.
    redis: the backend of the demo's own ``Realtime`` when there is no ``app``.
    app_dir: the directory ``app`` is imported from (workers start elsewhere).
    native: serve with tidings' own asyncio server (``tidings.native.serve_native``)
    instead of uvicorn.
    max_header_size, request_timeout, keepalive_timeout, max_keepalive_requests:
    the native server's request limits (None: its defaults; see ``serve_native``).
    healthz_path, readyz_path, metrics_path: where liveness, readiness and
    Prometheus metrics are served (None: not served); see ``tidings.ops``.
    ready_timeout: how long ``/readyz`` waits for the backend's answer.
    metrics_dir: the directory where workers share their counters (set by
    ``tidings serve --workers N``; None with one process).
    """

    app: str | None = None
    demo: bool = False
    redis: str | None = None
    path: str = DEFAULT_PATH
    api_token: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    app_dir: str = field(default_factory=os.getcwd)
    native: bool = False
    max_header_size: int | None = None
    request_timeout: float | None = None
    keepalive_timeout: float | None = None
    max_keepalive_requests: int | None = None
    healthz_path: str | None = "/healthz"
    readyz_path: str | None = "/readyz"
    metrics_path: str | None = "/metrics"
    ready_timeout: float = 1.0
    metrics_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        values = json.loads(text)
        values["cors_origins"] = tuple(values.get("cors_origins", ()))
        return cls(**values)


def check_path(path: str) -> str:
    """An endpoint path: starts with '/', is not '/' itself, has no trailing '/' or query."""
    if not path.startswith("/") or path == "/" or path.endswith("/") or "?" in path or "#" in path:
        raise ValueError(f"--path must look like /api/realtime (no trailing '/', no query), got {path!r}")
    return path
