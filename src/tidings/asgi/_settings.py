"""The endpoint's limits and timings, checked once when the endpoint is made."""

from __future__ import annotations

from dataclasses import dataclass

from tidings._exceptions import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Every knob of ``handle()``; see its docstring for what each one does."""

    ping_interval: float = 30.0
    max_duration: float | None = None
    max_channels: int = 32
    max_replay: int = 10_000
    max_connections: int | None = 10_000
    retry_ms: int | None = None
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        # The @upstash/realtime client reconnects after 75 s of silence.
        check_number("ping_interval", self.ping_interval, upper=60.0)
        if self.max_duration is not None:
            check_number("max_duration", self.max_duration)
        check_int("max_channels", self.max_channels)
        check_int("max_replay", self.max_replay)
        if self.max_connections is not None:
            check_int("max_connections", self.max_connections)
        if self.retry_ms is not None:
            check_int("retry_ms", self.retry_ms)
        check_number("shutdown_timeout", self.shutdown_timeout)


def check_number(name: str, value: object, *, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(name, f"must be a positive number of seconds, got {value!r}")
    if upper is not None and value > upper:
        raise InvalidArgumentError(
            name,
            f"{value} s is too long; at most {upper} s (the browser client gives up "
            "after 75 s without a frame)",
        )


def check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(name, f"must be a positive int, got {value!r}")
