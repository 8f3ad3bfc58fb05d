"""The endpoint's limits and timings, checked once when the endpoint is made."""

from __future__ import annotations

from dataclasses import dataclass

from tidings._checks import positive_int, positive_seconds
from tidings._exceptions import InvalidArgumentError

# The @upstash/realtime client reconnects after 75 s of silence.
_MAX_PING_INTERVAL = 60.0


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
    close_on_signal: bool = True
    send_buffer: int = 65_536

    def __post_init__(self) -> None:
        if positive_seconds("ping_interval", self.ping_interval) > _MAX_PING_INTERVAL:
            raise InvalidArgumentError(
                "ping_interval",
                f"{self.ping_interval} s is too long; at most {_MAX_PING_INTERVAL} s (the browser "
                "client gives up after 75 s without a frame)",
            )
        if self.max_duration is not None:
            positive_seconds("max_duration", self.max_duration)
        positive_int("max_channels", self.max_channels)
        positive_int("max_replay", self.max_replay)
        if self.max_connections is not None:
            positive_int("max_connections", self.max_connections)
        if self.retry_ms is not None:
            positive_int("retry_ms", self.retry_ms)
        positive_seconds("shutdown_timeout", self.shutdown_timeout)
        if not isinstance(self.close_on_signal, bool):
            raise InvalidArgumentError(
                "close_on_signal", f"must be True or False, got {self.close_on_signal!r}"
            )
        positive_int("send_buffer", self.send_buffer)
