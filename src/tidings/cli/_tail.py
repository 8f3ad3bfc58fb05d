"""``tidings tail CHANNEL...``: follow channels live, optionally replaying history first.

Directly (--redis/--app) each channel is a ``stream()`` with the core's
replay-then-live guarantee. Through --url it is one SSE connection that
resumes by itself; ``--history N`` there first reads the newest N events
through the JSON API and starts the stream right after the newest of them,
so nothing falls between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tidings import Message
from tidings._waiting import notice_if_slow, waiting_for

from ._errors import CliError, require, usage
from ._target import Direct, Remote, Target, failure

Emit = Callable[[Message], None]
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TailOptions:
    channels: tuple[str, ...]
    events: tuple[str, ...] | None
    history: int | None
    after: str | None
    count: int | None

    def __post_init__(self) -> None:
        if self.history is not None and self.after is not None:
            raise usage("give --history N or --after ID, not both")
        if self.history is not None and self.history < 1:
            raise usage(f"--history must be at least 1, got {self.history}")
        if self.count is not None and self.count < 1:
            raise usage(f"--count must be at least 1, got {self.count}")


class _Done(Exception):
    """--count messages were printed."""


async def tail(target: Target, options: TailOptions, emit: Emit, warn: Warn) -> None:
    printed = 0

    def deliver(message: Message) -> None:
        nonlocal printed
        emit(message)
        printed += 1
        if options.count is not None and printed >= options.count:
            raise _Done

    with contextlib.suppress(_Done):
        if isinstance(target, Remote):
            await _tail_remote(target, options, deliver, warn)
        else:
            await _tail_direct(target, options, deliver, warn)


async def _tail_direct(target: Direct, options: TailOptions, deliver: Emit, warn: Warn) -> None:
    from tidings import TidingsError

    realtime = target.realtime()
    # Bounded: a slow terminal holds up the subscriptions, which then
    # resync from history instead of growing memory here.
    queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=1000)
    history = {"limit": options.history} if options.history is not None else False
    try:
        async with realtime:
            async with notice_if_slow(waiting_for(realtime.backend), warn):
                for name in options.channels:
                    await realtime.channel(name).subscribe(
                        on_data=queue.put,
                        events=options.events,
                        history=history,
                        after=options.after,
                        on_error=_warner(warn),
                    )
            warn(listening(options, target))
            while True:
                deliver(await queue.get())
    except TidingsError as exc:
        raise failure(exc, target) from None


def listening(options: TailOptions, target: Target) -> str:
    """The line that says the tail is live, and on what: a quiet channel is not a hang."""
    channels = ", ".join(repr(name) for name in options.channels)
    events = "all events" if options.events is None else "events " + ", ".join(options.events)
    return f"tidings: listening to {channels} ({events}) on {target.description}; Ctrl-C to stop"


def _warner(warn: Warn) -> Callable[[BaseException], None]:
    def on_error(error: BaseException) -> None:
        warn(f"warning: {error}")

    return on_error


async def _tail_remote(target: Remote, options: TailOptions, deliver: Emit, warn: Warn) -> None:
    require("httpx", "client", "--url")
    from tidings.client import ClientError, connect

    await _check_reachable(target.url)
    last_ack: dict[str, str] | str | None = options.after
    if options.history is not None:
        last_ack = await _replay_remote(target, options, deliver)
    events = set(options.events) if options.events else None
    try:
        async with connect(
            target.url,
            channels=options.channels,
            last_ack=last_ack,
            events=events,
            on_error=lambda error: warn(f"warning: {error}"),
        ) as stream:
            warn(listening(options, target))
            async for message in stream:
                deliver(message)
    except ClientError as exc:
        raise CliError(str(exc)) from None


async def _replay_remote(target: Remote, options: TailOptions, deliver: Emit) -> dict[str, str]:
    from tidings._ids import parse_id

    from ._remote import ApiClient

    client = ApiClient(target.url, target.require_token("--history"))
    positions: dict[str, str] = {}
    replay: list[Message] = []
    try:
        for name in options.channels:
            messages = await client.history(name, {"limit": options.history})
            # "0-0" for an empty channel: the stream then replays whatever is
            # stored after this read, so nothing is lost in between.
            positions[name] = messages[-1].id if messages else "0-0"
            replay += messages
    finally:
        await client.aclose()
    replay.sort(key=lambda m: parse_id(m.id))
    for message in replay:
        if options.events is None or message.event in options.events:
            deliver(message)
    return positions


async def _check_reachable(url: str) -> None:
    """Fail fast when nothing listens: the stream itself would keep retrying forever."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "localhost"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5.0)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CliError(f"cannot reach the server at {url}: {reason}") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
