"""An ``httpx2.Auth`` that lets the official MCP SDK client (or any httpx2 client) carry a token."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx2


class TokenSource(Protocol):
    async def token(self) -> str: ...

    async def invalidate(self) -> None: ...


class BearerAuth(httpx2.Auth):
    """``streamable_http_client(url, http_client=httpx2.AsyncClient(auth=BearerAuth(source)))``.

    A 401 from the gateway makes the source forget its token and the request is sent once
    more with a fresh one (a token revoked or rotated before its time).
    """

    requires_request_body = True

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {await self._source.token()}"
        response = yield request
        if response.status_code == 401:
            await self._source.invalidate()
            request.headers["Authorization"] = f"Bearer {await self._source.token()}"
            yield request

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("BearerAuth works with httpx2.AsyncClient only")
