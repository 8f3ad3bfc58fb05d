"""Where a command reads or writes: Redis directly, a user's ``Realtime``, or a running server.

    --redis URL   a Realtime on that Redis, without a schema (any event, any JSON)
    --app M:ATTR  the user's Realtime (its schema and its backend, which must be shared)
    --url URL     a ``tidings serve`` endpoint, e.g. http://127.0.0.1:8000/api/realtime;
                  emit and history go through its JSON API (``--token``)

Each can also come from the environment: TIDINGS_REDIS_URL, TIDINGS_APP,
TIDINGS_URL, TIDINGS_API_TOKEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from ._errors import CliError, usage

if TYPE_CHECKING:
    from tidings import Realtime

RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis",
        envvar="TIDINGS_REDIS_URL",
        metavar="URL",
        show_default=False,
        help="Talk to this Redis directly (redis://host:6379/0); no schema: any event, any JSON.",
    ),
]
AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="TIDINGS_APP",
        metavar="MODULE:ATTR",
        show_default=False,
        help="Use your Realtime object (its schema and its Redis backend), e.g. myapp.events:realtime.",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TIDINGS_URL",
        metavar="URL",
        show_default=False,
        help="A running `tidings serve` endpoint, e.g. http://127.0.0.1:8000/api/realtime.",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TIDINGS_API_TOKEN",
        metavar="TOKEN",
        show_default=False,
        help="Bearer token of the server's JSON API (needed with --url for emit and history).",
    ),
]


@dataclass(frozen=True, slots=True)
class Direct:
    """The backend is reached from this process, through a ``Realtime``."""

    redis: str | None
    app: str | None

    @property
    def description(self) -> str:
        return f"Redis at {redact(self.redis)}" if self.redis else f"the backend of {self.app}"

    def realtime(self) -> Realtime:
        from tidings import InvalidInputError, MemoryBackend, Realtime, UsageError

        if self.redis is not None:
            try:
                return Realtime(redis=self.redis)
            except (InvalidInputError, UsageError) as exc:
                raise usage(f"--redis: {exc}") from None
        from tidings.server._loader import AppLoadError, load_realtime

        try:
            realtime = load_realtime(self.app or "")
        except AppLoadError as exc:
            raise usage(str(exc)) from None
        if isinstance(realtime.backend, MemoryBackend):
            raise usage(
                f"{self.app} uses the in-memory backend, which only its own process can reach: "
                "give --url of the server that runs it, or build it with Realtime(redis=...)"
            )
        return realtime


@dataclass(frozen=True, slots=True)
class Remote:
    """A running server, over HTTP."""

    url: str
    token: str | None

    @property
    def description(self) -> str:
        return f"the server at {redact(self.url)}"

    def require_token(self, what: str) -> str:
        if not self.token:
            raise usage(
                f"{what} through --url needs the server's API token: pass --token or set TIDINGS_API_TOKEN"
            )
        return self.token


Target = Direct | Remote


def resolve(*, redis: str | None, app: str | None, url: str | None, token: str | None) -> Target:
    given = [name for name, value in (("--redis", redis), ("--app", app), ("--url", url)) if value]
    if len(given) > 1:
        raise usage(
            f"give one of --redis, --app and --url, not {' and '.join(given)} (check TIDINGS_* variables)"
        )
    if not given:
        raise usage("say where the events are: --redis URL, --app MODULE:ATTR or --url URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise usage(
                f"--url must be an http(s) URL such as http://127.0.0.1:8000/api/realtime, got {url!r}"
            )
        try:
            parts.port  # noqa: B018 -- parsing it is the check
        except ValueError:
            raise usage(f"--url: the port must be a number from 1 to 65535, got {url!r}") from None
        return Remote(url.rstrip("/"), token)
    return Direct(redis=redis or None, app=app or None)


def redact(url: str | None) -> str:
    """``url`` without its password, for messages."""
    if url is None:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def failure(exc: BaseException, target: Target) -> CliError:
    from ._errors import from_tidings

    return from_tidings(exc, backend=target.description)
