"""The client side of the server's JSON API (``tidings.server._api``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import orjson

from tidings import Member, Message

from ._errors import CliError, usage

if TYPE_CHECKING:
    from ._target import Remote

T = TypeVar("T")
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


async def using_api(target: Remote, doing: str, use: Callable[[ApiClient], Awaitable[T]]) -> T:
    """``use(client)`` with a client of ``target``'s JSON API (its token is needed for ``doing``)."""
    client = ApiClient(target.url, target.require_token(doing))
    try:
        return await use(client)
    finally:
        await client.aclose()


class ApiClient:
    """``emit``, ``history`` and ``presence`` against ``<base>/emit``, ``/history``, ``/presence``."""

    def __init__(self, base: str, token: str) -> None:
        self._base = base
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT, headers={"authorization": f"Bearer {token}", "user-agent": "tidings-cli"}
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def emit(self, channel: str, items: Sequence[tuple[str, Any]]) -> list[str]:
        body = {"channel": channel, "events": [{"event": event, "data": data} for event, data in items]}
        answer = await self._call("POST", "/emit", content=orjson.dumps(body))
        return [str(event_id) for event_id in answer["ids"]]

    async def history(self, channel: str, options: dict[str, Any]) -> list[Message]:
        params = {
            "channel": channel,
            **{name: str(value) for name, value in options.items() if value is not None},
        }
        answer = await self._call("GET", "/history", params=params)
        return [Message(m["id"], m["event"], m["channel"], m["data"]) for m in answer["messages"]]

    async def presence(self, channel: str, limit: int | None) -> tuple[list[Member], int]:
        params = {"channel": channel} if limit is None else {"channel": channel, "limit": str(limit)}
        answer = await self._call("GET", "/presence", params=params)
        members = [Member(m["client_id"], m["info"], m["since"]) for m in answer["members"]]
        return members, int(answer["count"])

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self._base + path
        headers = {"content-type": "application/json"} if method == "POST" else {}
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the server at {self._base}: {_reason(exc)}") from None
        if response.status_code == 200:
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise CliError(
                    f"{url} answered 200 but not with JSON: is --url a tidings endpoint?"
                ) from None
        raise _refusal(url, response)


def _refusal(url: str, response: httpx.Response) -> CliError:
    status = response.status_code
    try:
        message = str(orjson.loads(response.content)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = response.text[:200].strip() or response.reason_phrase
    if status == 404:
        return CliError(
            f"{url} not found (404): --url must be the endpoint path of a server started with "
            "`tidings serve --api-token ...`, e.g. http://127.0.0.1:8000/api/realtime"
        )
    if status == 401:
        return usage(f"the server refused the API token: {message}")
    if status in (400, 413, 422):
        return usage(message)
    return CliError(f"the server failed ({status}): {message}")


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
