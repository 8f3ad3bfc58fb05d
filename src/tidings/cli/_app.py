"""The typer application: every command's arguments and help, each delegating to its module."""

from __future__ import annotations

import asyncio
import enum
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ._errors import CliError
from ._target import AppOption, RedisOption, TokenOption, UrlOption, resolve

T = TypeVar("T")

cli = typer.Typer(
    name="tidings",
    help="Typed realtime events: emit, tail and read history of channels; serve them to browsers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from tidings import __version__

        typer.echo(f"tidings {__version__}")
        raise typer.Exit(0)


@cli.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Typed realtime events: emit, tail and read history of channels; serve them to browsers."""


class LogLevel(enum.StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


MAX_MS = 2**64 - 1  # event ids are <ms>-<seq>, both unsigned 64-bit


def in_range(low: int, high: int | None = None) -> Callable[[int | None], int | None]:
    """An option callback refusing values outside ``low..high``: one line naming the option and range."""

    def check(value: int | None) -> int | None:
        if value is not None and not (low <= value and (high is None or value <= high)):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise typer.BadParameter(f"must be {allowed}, got {value}")
        return value

    return check


PortOption = Annotated[
    int,
    typer.Option(
        "--port", "-p", callback=in_range(0, 65535), help="Port to listen on (0-65535; 0: any free port)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
LogLevelOption = Annotated[
    LogLevel, typer.Option("--log-level", help="Log level of the server (uvicorn's, or the native one's).")
]
NativeOption = Annotated[
    bool,
    typer.Option(
        "--native",
        help="Serve with tidings' own asyncio server instead of uvicorn: streams cost far less "
        "memory and CPU (no ASGI in their data path); HTTP/1.1 with keep-alive.",
    ),
]
ApiTokenOption = Annotated[
    str | None,
    typer.Option(
        "--api-token",
        envvar="TIDINGS_API_TOKEN",
        metavar="TOKEN",
        show_default=False,
        help="Enable the JSON API (POST <path>/emit, GET <path>/history) for clients sending "
        "'Authorization: Bearer TOKEN' (at least 16 characters).",
    ),
]


@cli.command()
def emit(
    channel: Annotated[
        str, typer.Argument(metavar="CHANNEL", help="Channel to emit to.", show_default=False)
    ],
    event: Annotated[
        str,
        typer.Argument(
            metavar="EVENT",
            help="Event name (e.g. chat.message), or '-' to read one "
            '{"event": ..., "data": ...} object per line from stdin.',
            show_default=False,
        ),
    ],
    data: Annotated[
        str | None,
        typer.Argument(
            metavar="[DATA]",
            help="The event's data as JSON, or '-' to read one JSON value per line from stdin.",
            show_default=False,
        ),
    ] = None,
    redis: RedisOption = None,
    app: AppOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Emit events to a channel and print their ids, one per line.

    Everything is parsed (and, with --redis/--app, validated) before anything is
    stored; events go out in atomic batches of up to 1000.
    """
    from ._emit import emit as do_emit
    from ._emit import parse_items, print_ids

    target = resolve(redis=redis, app=app, url=url, token=token)
    items = parse_items(event, data, sys.stdin)
    print_ids(_run(do_emit(target, channel, items)))


@cli.command()
def tail(
    channels: Annotated[list[str], typer.Argument(metavar="CHANNEL...", help="Channels to follow.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", "-e", metavar="EVENT", help="Only this event (repeat for more).", show_default=False
        ),
    ] = None,
    history: Annotated[
        int | None,
        typer.Option(
            "--history",
            "-n",
            metavar="N",
            callback=in_range(1),
            help="First replay the newest N stored events of each channel.",
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option("--after", metavar="ID", help="First replay every event stored after this id."),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", "-c", metavar="N", callback=in_range(1), help="Exit after printing N events."
        ),
    ] = None,
    presence: Annotated[
        bool,
        typer.Option(
            "--presence",
            help="Also follow each channel's presence.join / presence.leave events (<channel>~presence).",
        ),
    ] = False,
    as_json: JsonOption = False,
    redis: RedisOption = None,
    app: AppOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print events of channels as they arrive, until Ctrl-C (or --count)."""
    from tidings import PRESENCE_SUFFIX

    from ._output import Printer
    from ._tail import TailOptions
    from ._tail import tail as do_tail

    target = resolve(redis=redis, app=app, url=url, token=token)
    followed = list(channels)
    if presence:
        followed += [name + PRESENCE_SUFFIX for name in channels if not name.endswith(PRESENCE_SUFFIX)]
    options = TailOptions(
        tuple(dict.fromkeys(followed)), tuple(event) if event else None, history, after, count
    )
    printer = Printer(as_json=as_json)
    _run(_until_signalled(do_tail(target, options, printer.message, printer.note)), quiet_interrupt=True)


@cli.command()
def history(
    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel to read.", show_default=False)],
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            metavar="N",
            callback=in_range(1),
            help="At most N events (default and maximum: 1000).",
        ),
    ] = None,
    start: Annotated[
        int | None,
        typer.Option(
            "--start",
            metavar="MS",
            callback=in_range(0, MAX_MS),
            help="Only events stored at or after this Unix ms.",
        ),
    ] = None,
    end: Annotated[
        int | None,
        typer.Option(
            "--end",
            metavar="MS",
            callback=in_range(0, MAX_MS),
            help="Only events stored at or before this Unix ms.",
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option("--after", metavar="ID", help="The oldest events after this id (to page forward)."),
    ] = None,
    as_json: JsonOption = False,
    redis: RedisOption = None,
    app: AppOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a channel's stored events, oldest first.

    Without --after: the newest N events between --start and --end. With --after:
    the oldest N events after that id.
    """
    from ._history import history as do_history
    from ._output import Printer

    target = resolve(redis=redis, app=app, url=url, token=token)
    options = {"limit": limit, "start": start, "end": end, "after": after}
    messages = _run(do_history(target, channel, {k: v for k, v in options.items() if v is not None}))
    Printer(as_json=as_json).messages(channel, messages)


@cli.command("presence")
def presence_command(
    channel: Annotated[
        str, typer.Argument(metavar="CHANNEL", help="Channel to look at.", show_default=False)
    ],
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            metavar="N",
            callback=in_range(1),
            help="List at most N members (default and maximum: Limits.max_presence_members, 1000).",
        ),
    ] = None,
    as_json: JsonOption = False,
    redis: RedisOption = None,
    app: AppOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List who is present on a channel now: client id, info, since when.

    With --json: one {"client_id", "info", "since"} line per member, earliest first.
    """
    from ._output import Printer
    from ._presence import presence as do_presence

    target = resolve(redis=redis, app=app, url=url, token=token)
    members, total = _run(do_presence(target, channel, limit))
    Printer(as_json=as_json).members(channel, members, total)


@cli.command()
def serve(
    app_path: Annotated[
        str,
        typer.Argument(
            metavar="APP", help="Your Realtime object as module:attribute, e.g. myapp.events:realtime."
        ),
    ],
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            callback=in_range(1),
            help="Worker processes (more than 1 needs a Redis backend).",
        ),
    ] = 1,
    path: Annotated[str, typer.Option("--path", help="Path of the SSE endpoint.")] = "/api/realtime",
    api_token: ApiTokenOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Also serve the demo page at /.")] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            help="Let pages of this origin read the stream ('*': any).",
            show_default=False,
        ),
    ] = None,
    native: NativeOption = False,
    max_header_size: Annotated[
        int | None,
        typer.Option(
            "--max-header-size",
            metavar="BYTES",
            callback=in_range(1),
            help="With --native: the most bytes of a request's line and headers "
            "(431 beyond; default 64 KiB).",
            show_default=False,
        ),
    ] = None,
    request_timeout: Annotated[
        float | None,
        typer.Option(
            "--request-timeout",
            metavar="SECONDS",
            help="With --native: how long a client may take to send a whole request (default 15).",
            show_default=False,
        ),
    ] = None,
    keepalive_timeout: Annotated[
        float | None,
        typer.Option(
            "--keepalive-timeout",
            metavar="SECONDS",
            help="With --native: how long a kept-alive connection may wait for its next request (default 5).",
            show_default=False,
        ),
    ] = None,
    max_keepalive_requests: Annotated[
        int | None,
        typer.Option(
            "--max-keepalive-requests",
            metavar="N",
            callback=in_range(1),
            help="With --native: requests served on one connection before it closes (default 1000).",
            show_default=False,
        ),
    ] = None,
    healthz_path: Annotated[
        str,
        typer.Option(
            "--healthz-path", metavar="PATH", help="Liveness: 200 while serving (an empty PATH: not served)."
        ),
    ] = "/healthz",
    readyz_path: Annotated[
        str,
        typer.Option(
            "--readyz-path",
            metavar="PATH",
            help="Readiness: 200 while the backend answers, 503 otherwise (an empty PATH: not served).",
        ),
    ] = "/readyz",
    metrics_path: Annotated[
        str,
        typer.Option(
            "--metrics-path",
            metavar="PATH",
            help="Prometheus metrics, needs tidings[metrics] (an empty PATH: not served).",
        ),
    ] = "/metrics",
    ready_timeout: Annotated[
        float,
        typer.Option(
            "--ready-timeout", metavar="SECONDS", help="How long /readyz waits for the backend's answer."
        ),
    ] = 1.0,
    log_level: LogLevelOption = LogLevel.warning,
) -> None:
    """Serve APP's channels to browsers over Server-Sent Events (uvicorn, or --native).

    Browsers connect to <path>?channel=...; with --api-token, programs emit and
    read history through <path>/emit and <path>/history. Ctrl-C or SIGTERM
    sends every open stream a reconnect frame and exits.
    """
    from ._serve import require_server
    from ._serve import serve as do_serve

    require_server()
    from tidings.server._config import ServeConfig

    config = ServeConfig(
        app=app_path,
        demo=demo,
        path=path,
        api_token=api_token,
        cors_origins=tuple(cors_origin or ()),
        native=native,
        max_header_size=max_header_size,
        request_timeout=request_timeout,
        keepalive_timeout=keepalive_timeout,
        max_keepalive_requests=max_keepalive_requests,
        healthz_path=healthz_path or None,
        readyz_path=readyz_path or None,
        metrics_path=metrics_path or None,
        ready_timeout=ready_timeout,
    )

    def banner(base: str) -> list[str]:
        lines = [f"tidings: serving {app_path} at {base}{path}"]
        if api_token:
            lines.append(f"tidings: JSON API at {base}{path}/emit and {base}{path}/history (bearer token)")
        if demo:
            lines.append(f"tidings: demo page at {base}/")
        lines.append("tidings: press Ctrl-C to stop")
        return lines

    code = do_serve(config, host=host, port=port, workers=workers, log_level=log_level.value, banner=banner)
    raise typer.Exit(code)


@cli.command()
def demo(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8765,
    redis: RedisOption = None,
    api_token: ApiTokenOption = None,
    native: NativeOption = False,
    log_level: LogLevelOption = LogLevel.warning,
) -> None:
    """Start a demo server and print its URL: a chat room, a background job, a live event log.

    Open the URL in two browser tabs and chat between them. In memory unless --redis.
    """
    from ._serve import require_server
    from ._serve import serve as do_serve

    require_server()
    from tidings.server._config import ServeConfig

    config = ServeConfig(demo=True, redis=redis, api_token=api_token, native=native)

    def banner(base: str) -> list[str]:
        lines = [f"tidings demo running at {base}/"]
        if api_token:
            lines.append(f"JSON API at {base}{config.path}/emit and {base}{config.path}/history")
        lines.append("press Ctrl-C to stop")
        return lines

    code = do_serve(config, host=host, port=port, workers=1, log_level=log_level.value, banner=banner)
    raise typer.Exit(code)


class SchemaFormat(enum.StrEnum):
    zod = "zod"
    json_schema = "json-schema"


@cli.command()
def schema(
    app_path: Annotated[
        str,
        typer.Argument(
            metavar="APP",
            help="Your Realtime object, or its schema dict, as module:attribute, e.g. myapp.events:realtime.",
        ),
    ],
    format: Annotated[
        SchemaFormat,
        typer.Option(
            "--format",
            "-f",
            help="zod: a TypeScript module for @upstash/realtime and tidings.js; "
            "json-schema: pydantic's JSON Schema of each event.",
        ),
    ] = SchemaFormat.zod,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.", show_default=False
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if FILE differs from what would be generated."),
    ] = False,
) -> None:
    """Generate the browser's types from APP's schema: each event's data as a zod schema, or JSON Schema.

    Parts of a type zod cannot check exactly are checked more loosely, with a
    comment in the output and a warning on stderr.
    """
    from ._schema import schema as do_schema

    raise typer.Exit(do_schema(app_path, format=format.value, output=output, check=check))


def _run(coroutine: Coroutine[Any, Any, T], *, quiet_interrupt: bool = False) -> T:
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        if quiet_interrupt:
            raise typer.Exit(0) from None
        raise CliError("interrupted", 130) from None


async def _until_signalled(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine``; SIGTERM ends it quietly, like Ctrl-C."""
    task = asyncio.ensure_future(coroutine)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
