"""How the ops handlers answer: GET and HEAD, 405 naming them to anything else."""

from __future__ import annotations

from tidings.asgi import Response
from tidings.asgi._types import Receive, Scope, Send

_METHODS = {"GET", "HEAD"}


async def answer(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """``response`` to GET (and HEAD, without the body); 405 naming the methods to anything else."""
    method = scope.get("method", "GET")
    if method not in _METHODS:
        response = Response(
            405, {"error": f"{method} is not allowed here; use GET"}, headers={"allow": "GET, HEAD"}
        )
    if method == "HEAD":
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.raw_headers()}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await response(scope, receive, send)
