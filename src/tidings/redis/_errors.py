"""Turning redis-py's exceptions into tidings' own, so callers catch ``TidingsError``.

Three kinds of failure, told apart because each calls for something else:

* unreachable (``UNREACHABLE``): Redis may answer later; retried until ``command_timeout``;
* refused for good (``refusal``): a wrong database, credentials, an ACL, a key of
  another type -- no retry can help, so it fails at once as ``BackendConfigurationError``;
* anything else: ``BackendError``.
"""

from __future__ import annotations

from redis import exceptions as redis_errors

from tidings._exceptions import BackendConfigurationError, BackendError, BackendUnavailableError

UNREACHABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # includes LOADING: Redis is reading its AOF after a restart
    redis_errors.TimeoutError,
    OSError,
    TimeoutError,
)
"""Errors meaning "Redis could not be reached", as opposed to "Redis refused".

redis-py also files authentication failures under ``ConnectionError``: ask
``refusal`` first.
"""

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


def refusal(doing: str, cause: BaseException) -> BackendConfigurationError | None:
    """``BackendConfigurationError`` if ``cause`` is Redis refusing for good; None otherwise.

    For every loop that retries on ``UNREACHABLE`` (which includes redis-py's
    ``AuthenticationError``): ask this first, and raise what it returns
    instead of retrying.
    """
    hint = _likely_cause(cause)
    if hint is None:
        return None
    error = BackendConfigurationError(f"Redis refused {doing}: {hint} ({type(cause).__name__}: {cause})")
    error.__cause__ = cause
    return error


def wrap(doing: str, cause: BaseException) -> BackendError:
    """The tidings error for ``cause``: a refusal, ``BackendUnavailableError``, or ``BackendError``."""
    refused = refusal(doing, cause)
    if refused is not None:
        return refused
    if isinstance(cause, UNREACHABLE):
        return unavailable(doing, cause)
    error = BackendError(f"Redis failed while {doing}: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error


_AUTHENTICATION = (redis_errors.AuthenticationError, redis_errors.AuthenticationWrongNumberOfArgsError)
_PERMISSION = (redis_errors.AuthorizationError, redis_errors.NoPermissionError)


def _likely_cause(cause: BaseException) -> str | None:
    text = str(cause)
    if isinstance(cause, _AUTHENTICATION):
        if "no password is set" in text:
            return "the URL gives a password, but this Redis has none set: remove it from the URL"
        if "required" in text.lower():  # NOAUTH Authentication required.
            return "this Redis requires a password: put it in the URL (redis://:PASSWORD@host:6379/0)"
        return "the user name or password in the URL is wrong, or that user is disabled"
    if isinstance(cause, redis_errors.ExternalAuthProviderError):
        return "the credentials provider failed to authenticate"
    # An ACL refusing a command inside our scripts arrives as a plain error reply.
    if isinstance(cause, _PERMISSION) or "The user executing the script can't" in text:
        return (
            "the Redis user lacks a permission tidings needs (ACL): allow it the stream, "
            "scripting and Pub/Sub commands on tidings' keys and channels"
        )
    if isinstance(cause, redis_errors.ReadOnlyError):
        return "this Redis is a read-only replica: point the URL at the primary"
    if not isinstance(cause, redis_errors.ResponseError):
        return None
    if "DB index" in text:  # "DB index is out of range", "invalid DB index"
        return (
            "the URL names a database this Redis does not have: use a number below its "
            "'databases' setting (16 by default), e.g. redis://host:6379/0"
        )
    if text.startswith("WRONGTYPE"):
        return (
            "a key tidings uses for a channel holds another type of value, written by something "
            "else: give tidings a key prefix of its own (prefix=..., or ?prefix=... in the URL)"
        )
    if "not allowed in cluster mode" in text:
        return "this Redis is a Redis Cluster node: use a redis+cluster:// URL"
    return None
