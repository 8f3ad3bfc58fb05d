"""The SIGTERM/SIGINT chain of ``tidings.asgi._signals``: in front of the server's handler, never instead."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from tidings import InvalidArgumentError, Realtime
from tidings.asgi import handle
from tidings.asgi._signals import close_on_signal


class Endpoint:
    def __init__(self) -> None:
        self.begun = 0

    def begin(self) -> None:
        self.begun += 1


@pytest.fixture
def sigterm_handler() -> Iterator[list[int]]:
    """A server's SIGTERM handler that records its calls; the original is restored afterwards."""
    calls: list[int] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    originals = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, server_handler)
    try:
        yield calls
    finally:
        for sig, original in originals.items():
            signal.signal(sig, original)


async def test_the_chain_begins_shutdown_on_the_loop_then_runs_the_servers_handler(
    sigterm_handler: list[int],
) -> None:
    endpoint = Endpoint()
    close_on_signal(endpoint.begin, asyncio.get_running_loop())
    close_on_signal(endpoint.begin, asyncio.get_running_loop())  # again: still one chain, one entry
    chain = signal.getsignal(signal.SIGTERM)
    assert callable(chain)
    chain(signal.SIGTERM, None)
    assert sigterm_handler == [signal.SIGTERM]
    assert endpoint.begun == 0  # on the loop, not inside the signal handler
    await asyncio.sleep(0)
    assert endpoint.begun == 1


async def test_nothing_is_chained_where_no_handler_is_installed() -> None:
    original = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        close_on_signal(Endpoint().begin, asyncio.get_running_loop())
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, original)


def test_close_on_signal_must_be_a_bool() -> None:
    with pytest.raises(InvalidArgumentError, match="close_on_signal: must be True or False, got 'no'"):
        handle(Realtime(), close_on_signal="no")  # type: ignore[arg-type]
