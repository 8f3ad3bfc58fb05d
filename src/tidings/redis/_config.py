"""Checking the Redis backend's options and reading them from a URL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tidings._exceptions import InvalidArgumentError, UsageError

from ._layout import LAYOUTS

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "tidings:"

# redis-py speaks these; valkey:// is an alias some deployments use.
_SCHEMES = {"redis": "redis", "rediss": "rediss", "unix": "unix", "valkey": "redis", "valkeys": "rediss"}
# Query parameters that are ours, not redis-py's connection options.
_OUR_PARAMS = ("prefix", "layout")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    prefix: str | None
    layout: str | None


def parse_url(url: str) -> Target:
    """Split tidings' own query parameters off a Redis URL and check its scheme."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgumentError("url", f"must be a Redis URL such as {DEFAULT_URL}, got {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme.startswith("redis+"):
        feature = "Redis Cluster" if scheme == "redis+cluster" else f"the {scheme}:// scheme"
        raise UsageError(
            f"{feature} is not supported yet by tidings' Redis backend; use redis://, "
            "rediss:// or unix:// pointing at a single Redis (or a proxy in front of a cluster)"
        )
    if scheme not in _SCHEMES:
        raise InvalidArgumentError(
            "url", f"unsupported scheme {scheme!r}; use redis://, rediss:// or unix://"
        )
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OUR_PARAMS:
            ours[name] = value
        else:
            theirs.append((name, value))
    cleaned = urlunsplit((_SCHEMES[scheme], parts.netloc, parts.path, urlencode(theirs), parts.fragment))
    return Target(cleaned, ours.get("prefix"), ours.get("layout"))


def check_layout(layout: object) -> str:
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InvalidArgumentError(
            "layout", f"must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}"
        )
    return layout


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


def check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgumentError(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(name, f"must be a positive int, got {value!r}")
    return value
