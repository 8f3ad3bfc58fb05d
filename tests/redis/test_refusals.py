"""Redis refusing tidings: a wrong database, missing or wrong credentials, a key of another type.

Retrying cannot fix any of these, so each must fail at once (not after
``command_timeout``) as a ``BackendConfigurationError`` that names the likely
cause and carries redis-py's error as ``__cause__``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis
from redis import exceptions as redis_errors

from tests.support.redis_server import RedisServer
from tidings import BackendConfigurationError, BackendError, Realtime, TidingsError
from tidings.redis._errors import refusal, wrap

PASSWORD = "s3cret-password"
# Long on purpose: a refusal must not wait for it.
TIMEOUT = 5.0
FAST = 1.0


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    """A redis-server that wants a password, with a user allowed everything but scripts."""
    server = RedisServer().start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.acl_setuser(
            "noscripts", enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], channels=["*"],
            commands=["+@all", "-@scripting"],
        )  # fmt: skip
        client.acl_setuser(
            "nochannels", enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], reset_channels=True,
            commands=["+@all"],
        )  # fmt: skip
        client.config_set("requirepass", PASSWORD)
        client.close()
        yield server
    finally:
        server.stop()


def url(server: RedisServer, credentials: str, db: int = 0) -> str:
    prefix = f"ref-{uuid.uuid4().hex[:8]}:"
    return f"redis://{credentials}127.0.0.1:{server.port}/{db}?prefix={prefix}"


Operation = Callable[[Realtime], Awaitable[object]]


async def emit(realtime: Realtime) -> object:
    return await realtime.channel("c").emit("e", 1)


async def emit_many(realtime: Realtime) -> object:
    return await realtime.channel("c").emit_many([("e", 1), ("e", 2)])


async def history(realtime: Realtime) -> object:
    return await realtime.channel("c").history()


async def history_after(realtime: Realtime) -> object:
    return await realtime.channel("c").history(after="0-0")


async def subscribe(realtime: Realtime) -> object:
    return await realtime.channel("c").subscribe(on_data=lambda message: None)


OPERATIONS = [emit, emit_many, history, history_after, subscribe]
CASES = {
    # credentials in the URL, database, words the message must contain
    "database out of range": (f":{PASSWORD}@", 99, ("database", "/99")),
    "no password": ("", 0, ("requires a password",)),
    "wrong password": (":wrong@", 0, ("password",)),
    "unknown user": ("nobody:wrong@", 0, ("user name or password",)),
    "no permission for scripts": (f"noscripts:{PASSWORD}@", 0, ("permission",)),
    "no permission for channels": (f"nochannels:{PASSWORD}@", 0, ("permission",)),
}
# What each user may still do: reads need no script, or no channel.
ALLOWED = {
    "no permission for scripts": {"history"},
    "no permission for channels": {"history", "history_after"},
}


async def refused(realtime: Realtime, operation: Operation) -> tuple[BackendConfigurationError, float]:
    started = time.monotonic()
    with pytest.raises(BackendConfigurationError) as caught:
        await operation(realtime)
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("case", "operation"),
    [
        pytest.param(case, operation, id=f"{case}-{operation.__name__}")
        for case in CASES
        for operation in OPERATIONS
        if operation.__name__ not in ALLOWED.get(case, set())
    ],
)
async def test_a_refusal_fails_fast_with_its_likely_cause(
    locked: RedisServer, case: str, operation: Operation
) -> None:
    credentials, db, words = CASES[case]
    realtime = Realtime(redis=url(locked, credentials, db) + f"&command_timeout={TIMEOUT}")
    try:
        error, elapsed = await refused(realtime, operation)
    finally:
        await realtime.aclose()
    assert elapsed < FAST, f"refused after {elapsed:.2f} s"
    assert isinstance(error.__cause__, redis_errors.RedisError)
    for word in words:
        assert word in str(error), (word, str(error))
    assert "Traceback" not in str(error)


@pytest.mark.parametrize("operation", [*OPERATIONS], ids=lambda op: op.__name__)
async def test_a_key_of_another_type_is_a_configuration_error(
    redis_server: RedisServer, operation: Operation
) -> None:
    prefix = f"ref-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_server.url)
    client.set(f"{prefix}c", "written by another program")
    client.close()
    realtime = Realtime(redis=f"{redis_server.url}?prefix={prefix}")
    try:
        error, elapsed = await refused(realtime, operation)
    finally:
        await realtime.aclose()
    assert elapsed < FAST
    assert isinstance(error.__cause__, redis_errors.ResponseError)
    assert "WRONGTYPE" in str(error)
    assert "prefix" in str(error)


# -- the classification itself (pure logic) ----------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (redis_errors.AuthenticationError("Authentication required."), "requires a password"),
        (redis_errors.AuthenticationError("invalid username-password pair"), "user name or password"),
        (redis_errors.AuthenticationError("Client sent AUTH, but no password is set"), "none set"),
        (redis_errors.AuthorizationError("NOPERM no permission"), "permission"),
        (redis_errors.NoPermissionError("this user has no permissions to run 'evalsha'"), "permission"),
        (redis_errors.ResponseError("DB index is out of range"), "database"),
        (redis_errors.ResponseError("invalid DB index"), "database"),
        (redis_errors.ResponseError("WRONGTYPE Operation against a key"), "prefix"),
        (redis_errors.ReadOnlyError("You can't write against a read only replica."), "primary"),
        (redis_errors.ResponseError("SELECT is not allowed in cluster mode"), "redis+cluster://"),
    ],
)
def test_refusals_are_told_apart_from_other_failures(cause: BaseException, words: str) -> None:
    error = refusal("appending to channel 'c'", cause)
    assert isinstance(error, BackendConfigurationError)
    assert error.__cause__ is cause
    assert words in str(error)
    assert "appending to channel 'c'" in str(error)
    assert wrap("appending to channel 'c'", cause).__class__ is BackendConfigurationError


@pytest.mark.parametrize(
    "cause",
    [
        redis_errors.ConnectionError("Connection refused"),
        redis_errors.TimeoutError("Timeout reading"),
        redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
        redis_errors.MovedError("3999 127.0.0.1:6381"),
        redis_errors.ResponseError("OOM command not allowed when used memory > 'maxmemory'"),
        OSError("Network is unreachable"),
        ValueError("a bug"),
    ],
)
def test_transient_failures_are_not_refusals(cause: BaseException) -> None:
    assert refusal("reading", cause) is None
    error = wrap("reading", cause)
    assert isinstance(error, BackendError)
    assert not isinstance(error, BackendConfigurationError)
    assert isinstance(error, TidingsError)
    assert error.__cause__ is cause
