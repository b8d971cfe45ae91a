"""The tools each routed MCP server offers, so the home page can name them instead of "all tools".

The gateway asks each upstream itself (``tools/list`` at ``<route url>/mcp``, as no one in
particular: every identity header empty, the route's static headers sent) with the official
SDK's client, which negotiates either protocol era.  The upstream is untrusted, so a listing
is bounded in time (``FETCH_SECONDS``), bytes (``MAX_BYTES`` over every response, enforced
by the transport) and size (``MAX_PAGES``, ``MAX_TOOLS``), and keeps only names an MCP tool
may have.  Listings are reused for ``TOOL_CATALOG_SECONDS``; a failed one is retried after
``RETRY_SECONDS``, so a server that is down slows no page after the first.  Asking is lazy:
only the home page asks, and it waits at most ``WAIT_SECONDS`` for listings in progress.

The SDK is imported on the first listing, not with the gateway: it is most of the gateway's
resident memory (measured: a process importing ``mcp`` holds 63 MiB, the gateway without it
about 45), which a gateway that never shows the home page (or has ``TOOL_CATALOG_SECONDS=0``)
never needs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpx2

from .headers import catalog_request_headers
from .routes import Route

logger = logging.getLogger("gateway.catalog")

FETCH_SECONDS = 5.0
WAIT_SECONDS = 2.0
RETRY_SECONDS = 15.0
MAX_BYTES = 1_048_576
MAX_PAGES = 10
MAX_TOOLS = 500
TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,128}")
"""The characters the MCP specification allows in a tool name (plus ``/``, which some servers use)."""


class TooLarge(httpx2.TransportError):
    """The upstream sent more than a listing may take."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise TooLarge("the tool listing exceeds its byte limit")


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._budget.spend(len(chunk))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx2.AsyncBaseTransport):
    """Counts every response byte of one listing against one budget; httpx2 has no such limit."""

    def __init__(self, budget: _Budget) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._budget = budget

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_CappedStream(stream, self._budget),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


async def list_tool_names(route: Route) -> tuple[str, ...]:
    """Every tool ``route`` offers, by name, sorted; raises on any failure or limit."""
    budget = _Budget(MAX_BYTES)
    try:
        return await _list(route, _CappedTransport(budget))
    except Exception as exc:
        if budget.left < 0:  # the SDK reports a cut stream as its own error; say why it was cut
            raise TooLarge(f"the listing exceeds {MAX_BYTES} bytes") from exc
        raise


async def _list(route: Route, transport: _CappedTransport) -> tuple[str, ...]:
    # Loaded on the first listing, not with the gateway: see the module docstring.
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    names: set[str] = set()
    async with (
        httpx2.AsyncClient(
            transport=transport,
            headers=catalog_request_headers(await route.outbound_headers(None)),
            timeout=httpx2.Timeout(FETCH_SECONDS, connect=route.connect_timeout),
            follow_redirects=False,
        ) as http,
        Client(
            streamable_http_client(f"{route.url}/mcp", http_client=http),
            raise_exceptions=True,
            read_timeout_seconds=FETCH_SECONDS,
        ) as client,
    ):
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            names.update(tool.name for tool in page.tools if TOOL_NAME.fullmatch(tool.name))
            if len(names) > MAX_TOOLS:
                raise ValueError(f"more than {MAX_TOOLS} tools")
            cursor = page.next_cursor
            if not cursor:
                break
    return tuple(sorted(names))


@dataclass(slots=True)
class _Entry:
    route: Route
    tools: tuple[str, ...] | None
    """None: the last listing failed (or none finished yet)."""
    until: float
    task: asyncio.Task[None] | None = None


class ToolCatalog:
    def __init__(self, reuse_seconds: float) -> None:
        self.reuse_seconds = reuse_seconds
        self._entries: dict[str, _Entry] = {}

    async def tools(self, routes: Iterable[Route]) -> dict[str, tuple[str, ...]]:
        """The known listing of each of ``routes``, refreshing stale ones (waiting briefly for them)."""
        if self.reuse_seconds <= 0:
            return {}
        wanted = list(routes)
        for gone in self._entries.keys() - {route.name for route in wanted}:
            self._forget(gone)
        now = time.monotonic()
        pending: list[asyncio.Task[None]] = []
        for route in wanted:
            entry = self._entries.get(route.name)
            if entry is None or entry.route != route:
                entry = self._entries[route.name] = _Entry(route, None, 0.0)
            if entry.task is None and entry.until <= now:
                entry.task = asyncio.create_task(self._refresh(entry))
            if entry.task is not None:
                pending.append(entry.task)
        if pending:
            await asyncio.wait(pending, timeout=WAIT_SECONDS)
        known = {route.name: self._entries[route.name] for route in wanted}
        return {name: entry.tools for name, entry in known.items() if entry.tools is not None}

    async def _refresh(self, entry: _Entry) -> None:
        try:
            async with asyncio.timeout(FETCH_SECONDS):
                entry.tools = await list_tool_names(entry.route)
            entry.until = time.monotonic() + self.reuse_seconds
        except Exception as exc:  # noqa: BLE001 - an untrusted upstream fails in any way; each is "not listed"
            logger.warning("could not list the tools of %s: %s", entry.route.name, _reason(exc))
            entry.tools = None
            entry.until = time.monotonic() + RETRY_SECONDS
        finally:
            entry.task = None

    def _forget(self, name: str) -> None:
        entry = self._entries.pop(name)
        if entry.task is not None:
            entry.task.cancel()

    async def close(self) -> None:
        tasks = [entry.task for entry in self._entries.values() if entry.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _reason(exc: BaseException) -> str:
    """One line: the SDK wraps transport errors in exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
