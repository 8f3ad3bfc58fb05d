"""Every option that takes a positive number refuses a bad one with the same words."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from tidings import InvalidArgumentError, Limits, Realtime
from tidings.asgi import TokenAuth
from tidings.asgi._settings import StreamSettings
from tidings.native._http import HttpLimits
from tidings.redis import RedisBackend

SECONDS: dict[str, Callable[[object], object]] = {
    "ping_interval": lambda v: StreamSettings(ping_interval=v),  # type: ignore[arg-type]
    "shutdown_timeout": lambda v: StreamSettings(shutdown_timeout=v),  # type: ignore[arg-type]
    "request_timeout": lambda v: HttpLimits(request_timeout=v),  # type: ignore[arg-type]
    "command_timeout": lambda v: RedisBackend(command_timeout=v),  # type: ignore[arg-type]
    "ttl": lambda v: TokenAuth("t" * 32).issue(["room"], ttl=v),  # type: ignore[arg-type]
}
INTS: dict[str, Callable[[object], object]] = {
    "max_channels": lambda v: StreamSettings(max_channels=v),  # type: ignore[arg-type]
    "send_buffer": lambda v: StreamSettings(send_buffer=v),  # type: ignore[arg-type]
    "max_header_size": lambda v: HttpLimits(max_header_size=v),  # type: ignore[arg-type]
    "max_connections": lambda v: RedisBackend(max_connections=v),  # type: ignore[arg-type]
    "Limits.history_limit": lambda v: Limits(history_limit=v),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", [0, -1.5, True, "5", None, math.nan])
def test_seconds_options_refuse_alike(name: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        SECONDS[name](value)
    assert str(caught.value) == f"{name}: must be a positive number of seconds, got {value!r}"


@pytest.mark.parametrize("name", INTS)
@pytest.mark.parametrize("value", [0, -3, True, 2.0, "5", None])
def test_int_options_refuse_alike(name: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        INTS[name](value)
    assert str(caught.value) == f"{name}: must be a positive int, got {value!r}"


@pytest.mark.parametrize("name", ["max_length", "expire_after_secs"])
@pytest.mark.parametrize("value", [0, True, 1.5])
def test_retention_options_refuse_alike(name: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        Realtime(**{name: value})
    assert str(caught.value) == f"{name}: must be a positive int or None, got {value!r}"


def test_a_ping_interval_the_browser_would_give_up_on_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"ping_interval: 61 s is too long; at most 60.0 s"):
        StreamSettings(ping_interval=61)
