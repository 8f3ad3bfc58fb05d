"""The public surface is exactly what ``tidings.__all__`` names."""

from __future__ import annotations

import types

import pytest

import tidings
from tidings import (
    ClosedError,
    InvalidArgumentError,
    InvalidInputError,
    Limits,
    MemoryBackend,
    Realtime,
    TidingsError,
)


def test_all_matches_public_names() -> None:
    public = {
        name
        for name, value in vars(tidings).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)  # subpackages load lazily
    }
    assert set(tidings.__all__) - {"__version__"} == public


def test_every_error_is_a_tidings_error() -> None:
    for name in tidings.__all__:
        value = getattr(tidings, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, TidingsError), name


def test_input_errors_are_value_errors() -> None:
    assert issubclass(InvalidInputError, ValueError)


@pytest.mark.parametrize("field", ["max_payload_bytes", "history_limit", "subscriber_queue", "max_batch"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"Limits.{field}"):
        Limits(**{field: 0})  # type: ignore[arg-type]


async def test_closed_realtime_refuses_use() -> None:
    realtime = Realtime()
    await realtime.aclose()
    with pytest.raises(ClosedError, match="closed"):
        await realtime.emit("e", 1)
    await realtime.aclose()


async def test_async_context_manager_closes_subscriptions() -> None:
    async with Realtime() as realtime:
        await realtime.channel("c").subscribe(on_data=print)
        assert realtime.backend.live_listener_count() == 1
    assert realtime.backend.live_listener_count() == 0


async def test_given_backend_stays_open_for_its_owner() -> None:
    backend = MemoryBackend()
    async with Realtime(backend=backend) as first:
        await first.emit("e", 1)
    async with Realtime(backend=backend) as second:
        assert [m.data for m in await second.history()] == [1]
    await backend.aclose()


def test_backend_and_redis_are_exclusive() -> None:
    with pytest.raises(InvalidArgumentError, match="not both"):
        Realtime(backend=MemoryBackend(), redis="redis://x")


def test_unknown_url_scheme_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="'http'"):
        Realtime(redis="http://localhost")


def test_a_backend_refusal_is_a_backend_error() -> None:
    assert issubclass(tidings.BackendConfigurationError, tidings.BackendError)
    assert "BackendConfigurationError" in tidings.__all__
