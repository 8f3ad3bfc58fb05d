"""Starlette pieces shared by the JSON API (``tidings.server``) and the demo (``tidings.demo``).

Both answer small, whole JSON requests; this package holds what they have in
common -- exact JSON bodies under a size limit, ``{"error": ...}`` answers --
so that neither imports the other. The SSE stream is not served here: it is
the plain ASGI endpoint of ``tidings.asgi``.
"""

from ._json import HttpError, JSONResponse, json_response, json_route, query_param, read_body, read_json

__all__ = [
    "HttpError",
    "JSONResponse",
    "json_response",
    "json_route",
    "query_param",
    "read_body",
    "read_json",
]
