"""Turning redis-py's exceptions into tidings' own, so callers catch ``TidingsError``."""

from __future__ import annotations

from redis import exceptions as redis_errors

from tidings._exceptions import BackendError, BackendUnavailableError

UNREACHABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # includes LOADING: Redis is reading its AOF after a restart
    redis_errors.TimeoutError,
    OSError,
    TimeoutError,
)
"""Errors meaning "Redis could not be reached", as opposed to "Redis refused"."""

REDIRECTS: tuple[type[BaseException], ...] = (
    redis_errors.AskError,  # and MovedError, its subclass
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,  # and MASTERDOWN
)
"""Redis Cluster replies meaning "not here, or not now": the command did not run."""


def unavailable(doing: str, cause: BaseException | None, timeout: float | None = None) -> BackendError:
    within = f" within {timeout:g} s (command_timeout)" if timeout is not None else ""
    detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
    error = BackendUnavailableError(f"Redis did not answer while {doing}{within}{detail}")
    error.__cause__ = cause
    return error


def wrap(doing: str, cause: BaseException) -> BackendError:
    """``BackendUnavailableError`` for connection trouble, ``BackendError`` for anything else."""
    if isinstance(cause, UNREACHABLE):
        return unavailable(doing, cause)
    error = BackendError(f"Redis failed while {doing}: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error
