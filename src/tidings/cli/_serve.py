"""``tidings serve APP`` and ``tidings demo``: build the app, bind the port, serve.

The server is uvicorn, or with ``--native`` tidings' own asyncio server
(``tidings.server._native_run``); both take the same pre-bound socket.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._errors import CliError, require, usage

if TYPE_CHECKING:
    from tidings.server import ServeConfig


def require_server() -> None:
    """One line naming the server extra if a part of it is missing (before ``tidings.server`` imports)."""
    for module in ("uvicorn", "httptools", "starlette"):
        require(module, "server", "serving")


def check_config(config: ServeConfig, workers: int) -> None:
    """Everything that can be checked before the port is taken, as usage errors."""
    from tidings import MemoryBackend, TidingsError
    from tidings._checks import positive_seconds
    from tidings.server import AppLoadError, check_api_token, load_realtime
    from tidings.server._config import check_path

    try:
        check_path(config.path)
        if config.api_token is not None:
            check_api_token(config.api_token)
    except ValueError as exc:
        raise usage(str(exc)) from None
    if workers < 1:
        raise usage(f"--workers must be at least 1, got {workers}")
    check_ops_options(config)
    native_limits = {
        "--max-header-size": config.max_header_size,
        "--request-timeout": config.request_timeout,
        "--keepalive-timeout": config.keepalive_timeout,
        "--max-keepalive-requests": config.max_keepalive_requests,
    }
    for option, value in native_limits.items():
        if value is not None and not config.native:
            raise usage(f"{option} applies to --native only (uvicorn has limits of its own)")
    for option in ("--request-timeout", "--keepalive-timeout"):
        seconds = native_limits[option]
        if seconds is not None:
            try:
                positive_seconds(option, seconds)
            except TidingsError as exc:
                raise usage(str(exc)) from None
    if config.redis is not None:
        from tidings._backend_url import backend_from_url

        try:
            backend_from_url(config.redis)  # checks the URL; connects to nothing
        except (TidingsError, ValueError) as exc:
            raise usage(f"--redis: {exc}") from None
    if config.app is not None:
        try:
            realtime = load_realtime(config.app, app_dir=config.app_dir)
        except AppLoadError as exc:
            raise usage(str(exc)) from None
        if workers > 1 and isinstance(realtime.backend, MemoryBackend):
            raise usage(
                f"--workers {workers} needs a backend the workers share: {config.app} uses the "
                "in-memory backend (build it with Realtime(redis=...), or run one worker)"
            )
    elif workers > 1 and config.redis is None:
        raise usage(
            f"--workers {workers} needs --redis: in-memory demo state cannot be shared between workers"
        )


def check_ops_options(config: ServeConfig) -> None:
    """The health, readiness and metrics paths: valid, distinct, clear of the stream and its API."""
    from tidings import TidingsError
    from tidings._checks import positive_seconds
    from tidings.ops._app import check_ops_path

    options = {
        "--healthz-path": config.healthz_path,
        "--readyz-path": config.readyz_path,
        "--metrics-path": config.metrics_path,
    }
    seen: dict[str, str] = {}
    for option, path in options.items():
        if path is None:
            continue
        try:
            check_ops_path(option.removeprefix("--").removesuffix("-path"), path)
        except ValueError as exc:
            raise usage(f"{option}: {exc}") from None
        if path == config.path or path.startswith(config.path + "/"):
            raise usage(f"{option} {path} collides with the stream at --path {config.path} (or its JSON API)")
        if path in seen:
            raise usage(f"{option} and {seen[path]} are both {path}; give them distinct paths")
        seen[path] = option
    try:
        positive_seconds("--ready-timeout", config.ready_timeout)
    except TidingsError as exc:
        raise usage(str(exc)) from None


def serve(
    config: ServeConfig,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    banner: Callable[[str], list[str]],
) -> int:
    """Run until interrupted; ``banner(base_url)`` gives the lines printed once serving."""
    require_server()
    check_config(config, workers)
    with _metrics_shared(config, workers) as shared:
        return _serve(shared, host=host, port=port, workers=workers, log_level=log_level, banner=banner)


@contextmanager
def _metrics_shared(config: ServeConfig, workers: int) -> Iterator[ServeConfig]:
    """With several workers, a directory they share their counters in (``/metrics`` sums them)."""
    if workers == 1 or config.metrics_path is None:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="tidings-metrics-") as directory:
        yield dataclasses.replace(config, metrics_dir=directory)


def _serve(
    config: ServeConfig,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    banner: Callable[[str], list[str]],
) -> int:
    from tidings import TidingsError
    from tidings.server import AppLoadError, build_app
    from tidings.server._native_run import run_native
    from tidings.server._run import ServerError, bind, run, url_of

    try:
        app = build_app(config) if workers == 1 else config
    except AppLoadError as exc:
        raise usage(str(exc)) from None
    except (TidingsError, ValueError) as exc:
        raise usage(str(exc)) from None
    try:
        sock = bind(host, port)
    except ServerError as exc:
        raise CliError(str(exc)) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    base = url_of(sock, shown)

    def ready() -> None:
        sys.stdout.write("".join(line + "\n" for line in banner(base)))
        sys.stdout.flush()

    runner = run_native if config.native else run
    with sock:
        return runner(app, sock, workers=workers, log_level=log_level, on_ready=ready)
