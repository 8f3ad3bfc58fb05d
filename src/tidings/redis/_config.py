"""Checking the Redis backend's options and reading them from a URL."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tidings._backend_url import CLUSTER_SCHEMES, REDIS_SCHEMES, REDIS_VARIANTS
from tidings._exceptions import InvalidArgumentError, UsageError

from ._layout import LAYOUTS

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "tidings:"

# Query parameters that are ours, not redis-py's connection options.
_OUR_PARAMS = ("prefix", "layout", "command_timeout")
_DEFAULT_PORT = 6379


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    prefix: str | None
    layout: str | None
    command_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """Startup nodes, and a URL template for any node (``{host}``/``{port}`` to fill in)."""

    nodes: list[tuple[str, int]]
    node_url: str
    prefix: str | None
    layout: str | None
    command_timeout: float | None = None

    def url_of(self, host: str, port: int) -> str:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return self.node_url.replace("{hostport}", netloc, 1)


def _split_query(query: str) -> tuple[dict[str, str], str]:
    """Our own parameters, and the rest (redis-py's connection options) re-encoded."""
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _OUR_PARAMS:
            ours[name] = value
        else:
            theirs.append((name, value))
    return ours, urlencode(theirs)


def _check_url(url: object, example: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgumentError("url", f"must be a Redis URL such as {example}, got {url!r}")
    return url


def parse_url(url: str) -> Target:
    """Split tidings' own query parameters off a Redis URL and check its scheme."""
    parts = urlsplit(_check_url(url, DEFAULT_URL))
    scheme = parts.scheme.lower()
    if scheme in CLUSTER_SCHEMES:
        raise UsageError(
            f"{scheme}:// is a Redis Cluster URL: use tidings.redis.RedisClusterBackend "
            "(or Realtime(redis=...), which picks it)"
        )
    if scheme.startswith(REDIS_VARIANTS):
        raise UsageError(
            f"the {scheme}:// scheme is not supported yet by tidings' Redis backend; use redis://, "
            "rediss://, unix:// or redis+cluster://"
        )
    if scheme not in REDIS_SCHEMES:
        raise InvalidArgumentError(
            "url", f"unsupported scheme {scheme!r}; use redis://, rediss:// or unix://"
        )
    ours, theirs = _split_query(parts.query)
    cleaned = urlunsplit((REDIS_SCHEMES[scheme], parts.netloc, parts.path, theirs, parts.fragment))
    _check_connection_options(cleaned)
    return Target(cleaned, ours.get("prefix"), ours.get("layout"), _url_timeout(ours))


def _check_connection_options(url: str) -> None:
    """Refuse now what redis-py would only refuse at the first connection, untyped.

    A port out of range, a path that is no database number (redis-py would
    silently use database 0), an unknown query option (a ``TypeError`` then)
    or an option value it cannot parse.
    """
    from redis.asyncio.connection import Connection
    from redis.asyncio.connection import parse_url as redis_parse_url

    try:
        options = dict(redis_parse_url(url))
    except ValueError as exc:  # a bad port, or a value redis-py cannot parse
        problem = str(exc).rstrip(".")
        where = "" if "URL" in problem else " in the Redis URL"
        raise InvalidArgumentError("url", f"{problem}{where}") from None
    parts = urlsplit(url)
    if parts.scheme != "unix" and parts.path not in ("", "/") and not _is_database(parts.path):
        raise InvalidArgumentError(
            "url", f"the path of a Redis URL is a database number such as /0, got {parts.path!r}"
        )
    connection_class: type = options.pop("connection_class", Connection)  # type: ignore[assignment]
    known = {"max_connections", "timeout"}  # the pool's own
    for klass in connection_class.__mro__:
        init = vars(klass).get("__init__")
        if init is not None:
            known.update(inspect.signature(init).parameters)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidArgumentError(
            "url",
            f"unknown option(s) {', '.join(unknown)} in the Redis URL; it takes tidings' prefix, layout "
            "and command_timeout, and redis-py's connection options (socket_timeout, client_name...)",
        )


def _is_database(path: str) -> bool:
    number = path[1:]
    return number.isascii() and number.isdigit()


def parse_cluster_url(url: str) -> ClusterTarget:
    """``redis+cluster://[user:password@]host:port,host:port[/0][?options]``.

    Every listed node is a startup node (one is enough: the others are
    discovered). ``rediss+cluster://`` uses TLS. A plain ``redis://`` or
    ``rediss://`` URL names a single startup node.
    """
    example = "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"
    parts = urlsplit(_check_url(url, example))
    scheme = parts.scheme.lower()
    base = CLUSTER_SCHEMES.get(scheme) or {"redis": "redis", "rediss": "rediss"}.get(scheme)
    if base is None:
        raise InvalidArgumentError(
            "url", f"unsupported scheme {scheme!r} for a Redis Cluster; use {example} (or rediss+cluster://)"
        )
    if parts.path not in ("", "/", "/0"):
        raise InvalidArgumentError(
            "url", f"a Redis Cluster has only database 0, got the path {parts.path!r} in {url!r}"
        )
    credentials, _, hosts = parts.netloc.rpartition("@")
    nodes = [_host_port(item, url) for item in hosts.split(",") if item.strip()]
    if not nodes:
        raise InvalidArgumentError("url", f"names no Redis Cluster node: {url!r}; use {example}")
    ours, theirs = _split_query(parts.query)
    userinfo = credentials + "@" if credentials else ""
    node_url = urlunsplit((base, userinfo + "{hostport}", "/0", theirs, ""))
    _check_connection_options(node_url.replace("{hostport}", "localhost", 1))
    return ClusterTarget(nodes, node_url, ours.get("prefix"), ours.get("layout"), _url_timeout(ours))


def with_url_options(options: dict[str, Any], target: Target | ClusterTarget) -> dict[str, Any]:
    """A backend's keyword options, completed by its URL's ``?command_timeout=`` (a keyword wins)."""
    if target.command_timeout is not None:
        options.setdefault("command_timeout", target.command_timeout)
    return options


def _url_timeout(ours: dict[str, str]) -> float | None:
    """``?command_timeout=SECONDS`` of a URL, checked like the keyword option."""
    text = ours.get("command_timeout")
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise InvalidArgumentError(
            "url", f"?command_timeout= must be a positive number of seconds, got {text!r}"
        )
    return value


def _host_port(item: str, url: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = item.partition(":")
    try:
        port = int(port_text) if port_text else _DEFAULT_PORT
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise InvalidArgumentError("url", f"bad Redis Cluster node {item!r} in {url!r}; use host:port")
    return host, port


def check_layout(layout: object) -> str:
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InvalidArgumentError(
            "layout", f"must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}"
        )
    return layout


def check_cluster_prefix(prefix: object) -> str:
    checked = check_prefix(prefix, "tidings")
    if "{" in checked or "}" in checked:
        raise InvalidArgumentError(
            "prefix",
            "must not contain '{' or '}' on a Redis Cluster: tidings puts each channel name in "
            f"a {{hash tag}} of its own, and a brace in the prefix would override it; got {prefix!r}",
        )
    return checked


def check_prefix(prefix: object, layout: str) -> str:
    if layout == "upstash":
        if prefix not in (None, ""):
            raise InvalidArgumentError(
                "prefix",
                "the upstash layout stores each channel under its bare name, as "
                f"@upstash/realtime does; it takes no prefix (got {prefix!r})",
            )
        return ""
    if prefix is None:
        return DEFAULT_PREFIX
    if not isinstance(prefix, str) or not prefix:
        raise InvalidArgumentError(
            "prefix",
            "must be a non-empty str: it keeps channel names (which browsers may choose) "
            f"away from unrelated Redis keys; got {prefix!r}",
        )
    return prefix
