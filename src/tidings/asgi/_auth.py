"""Signed, expiring access tokens that name the channels they grant.

``EventSource`` cannot send headers, so the token travels as a query
parameter: ``/api/realtime?channel=room-1&token=<token>``. A token is

    base64url(json {"c": [channels], "e": expiry unix seconds}) "." base64url(hmac)

where the HMAC-SHA256 (keyed by the server secret) covers the first part. It
is checked in constant time; its content is readable by whoever holds it, so
it carries nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson

from tidings._checks import positive_seconds
from tidings._exceptions import InvalidArgumentError, InvalidInputError

from ._request import Request
from ._responses import Response, error_response

_MIN_SECRET_BYTES = 32
_MAX_TOKEN_CHARS = 16 * 1024


class InvalidTokenError(InvalidInputError):
    """The token is malformed, tampered with, or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a verified token allows: these channels, until ``expires_at`` (unix seconds)."""

    channels: frozenset[str]
    expires_at: int


class TokenAuth:
    """Issue access tokens, and check them as the endpoint's middleware.

    ::

        auth = TokenAuth(os.environ["REALTIME_SECRET"])
        token = auth.issue(["user-42"], ttl=3600)     # in a view the user is logged into
        app.mount("/api/realtime", handle(realtime, middleware=auth))

    The token is read from the ``param`` query parameter, else (if
    ``cookie`` is set) from that cookie, for pages that use
    ``withCredentials``. A request without a token gets 401, one with a bad
    or expired token 401, one asking for a channel its token does not name 403.

    With the ``@upstash/realtime`` client, put the token in its URL:
    ``<RealtimeProvider api={{ url: "/api/realtime?token=" + token }}>``.
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        param: str = "token",
        cookie: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not isinstance(key, bytes) or len(key) < _MIN_SECRET_BYTES:
            raise InvalidArgumentError(
                "secret",
                f"must be at least {_MIN_SECRET_BYTES} bytes of random data (e.g. secrets.token_urlsafe(32))",
            )
        self._key = key
        self.param = param
        self.cookie = cookie
        self._clock = clock

    def issue(self, channels: Iterable[str], *, ttl: float) -> str:
        """A token granting ``channels`` for ``ttl`` seconds from now."""
        names = sorted(set(channels))
        if not names or not all(isinstance(name, str) and name for name in names):
            raise InvalidArgumentError(
                "channels", f"must be one or more non-empty channel names, got {names!r}"
            )
        claims = {"c": names, "e": int(self._clock() + positive_seconds("ttl", ttl))}
        body = _b64encode(orjson.dumps(claims))
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str) -> TokenGrant:
        """The grant of a valid token; raises ``InvalidTokenError`` naming what is wrong."""
        if len(token) > _MAX_TOKEN_CHARS:
            raise InvalidTokenError(
                f"access token is {len(token)} characters; the limit is {_MAX_TOKEN_CHARS}"
            )
        if not token.isascii():
            raise InvalidTokenError("malformed access token: not ASCII")
        body, sep, signature = token.partition(".")
        if not sep or not body or not signature:
            raise InvalidTokenError("malformed access token: expected <claims>.<signature>")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidTokenError("invalid access token: signature does not match")
        try:
            claims = orjson.loads(_b64decode(body))
            channels = frozenset(claims["c"])
            expires_at = int(claims["e"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidTokenError("malformed access token: unreadable claims") from None
        now = self._clock()
        if now >= expires_at:
            raise InvalidTokenError(f"access token expired {int(now - expires_at)} s ago")
        return TokenGrant(channels, expires_at)

    def __call__(self, request: Request, channels: Sequence[str]) -> Response | None:
        """Middleware: allow the request only if its token grants every requested channel."""
        token = request.query_params.get(self.param)
        if not token and self.cookie is not None:
            token = request.cookies.get(self.cookie)
        if not token:
            where = f"the {self.param!r} query parameter"
            if self.cookie is not None:
                where += f" or the {self.cookie!r} cookie"
            return error_response(401, f"missing access token: pass it as {where}")
        try:
            grant = self.verify(token)
        except InvalidTokenError as exc:
            return error_response(401, str(exc))
        refused = [channel for channel in channels if channel not in grant.channels]
        if refused:
            return error_response(
                403, f"access token does not grant channel(s) {', '.join(map(repr, refused))}"
            )
        return None

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(mac)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
