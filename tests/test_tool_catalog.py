"""The home page names the tools that exist: the gateway lists each upstream itself, bounded.

Against the real example servers through the whole stack, and against hostile upstreams that
stall, flood, lie about names, paginate forever or answer garbage: each is left out ("all
tools") in bounded time, the others are still listed, and no caller's identity reaches them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest

from devstack.stack import Stack
from gateway import tool_catalog
from gateway.routes import Route
from gateway.tool_catalog import TooLarge, ToolCatalog, list_tool_names
from mcp_gateway_core.contract import IDENTITY_HEADERS, decode_tools, encode_tools
from tests.hostile import HostileUpstream, Received, json_response, response
from tests.test_login import log_in

FININFO_TOOLS = ("close_account", "get_stock_aggregates", "place_trade", "print_stock_data")
ToolsAnswer = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def upstream() -> Iterator[HostileUpstream]:
    server = HostileUpstream()
    yield server
    server.close()


def speaks_mcp(tools_list: ToolsAnswer) -> Callable[[Received, asyncio.StreamWriter], Awaitable[None]]:
    """A handshake-era server that answers tools/list with ``tools_list``."""

    async def answer(request: Received, writer: asyncio.StreamWriter) -> None:
        message: Any = request.json() if request.body else None
        method = message.get("method") if isinstance(message, dict) else None
        if method == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile", "version": "1"},
            }
            writer.write(json_response({"jsonrpc": "2.0", "id": message["id"], "result": result}))
        elif method == "tools/list":
            await tools_list(request, writer)
        elif method is not None and "id" in message:
            error = {"code": -32601, "message": "Method not found"}
            writer.write(json_response({"jsonrpc": "2.0", "id": message["id"], "error": error}))
        else:
            writer.write(response(202, []))

    return answer


def tools_page(*names: str, cursor: str | None = None) -> ToolsAnswer:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> None:
        tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
        result: dict[str, Any] = {"tools": tools, **({"nextCursor": cursor} if cursor else {})}
        writer.write(json_response({"jsonrpc": "2.0", "id": request.json()["id"], "result": result}))

    return answer


async def stall(request: Received, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)


async def flood(request: Received, writer: asyncio.StreamWriter) -> None:
    writer.write(response(200, [("Content-Type", "text/event-stream"), ("Content-Length", "100000000")]))
    chunk = b": " + b"x" * 1_024 + b"\n"  # comments: every event parser skips them, none ends
    for _ in range(100_000):
        writer.write(chunk)
        await writer.drain()


async def html(request: Received, writer: asyncio.StreamWriter) -> None:
    writer.write(response(200, [("Content-Type", "text/html")], b"<html>not MCP</html>"))


async def elsewhere(request: Received, writer: asyncio.StreamWriter) -> None:
    writer.write(response(307, [("Location", "http://169.254.169.254/latest/meta-data/")]))


async def too_many(request: Received, writer: asyncio.StreamWriter) -> None:
    await tools_page(*(f"tool_{n}" for n in range(tool_catalog.MAX_TOOLS + 1)))(request, writer)


def test_the_home_page_names_every_tool_where_a_rule_says_all(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False, timeout=15) as admin:
        log_in(admin, local_stack, "admin", "admin-password")
        home = admin.get(f"{local_stack.gateway_url}/").text
        spoofed = admin.get(
            f"{local_stack.gateway_url}/", headers={"X-Gateway-Tools": "fininfo=evil_tool"}
        ).text
    row = home[home.index("fininfo/mcp") :]
    row = row[: row.index("</tr>")]
    assert "all tools:" in row
    for tool in FININFO_TOOLS:
        assert f"<code>{tool}</code>" in row, tool
    assert "evil_tool" not in spoofed, "only the gateway's own listing may name tools"


def test_an_explicit_rule_names_its_tools_and_marks_missing_ones(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False, timeout=15) as alice:
        log_in(alice, local_stack, "alice", "alice-password")
        home = alice.get(f"{local_stack.gateway_url}/").text
    row = home[home.index("fininfo/mcp") :]
    row = row[: row.index("</tr>")]
    assert "<code>get_stock_aggregates</code>" in row and "place_trade" not in row
    assert "not offered by the server" not in row


async def test_a_listing_asks_as_no_one_with_the_routes_own_headers(upstream: HostileUpstream) -> None:
    upstream.reset(speaks_mcp(tools_page("b_tool", "a_tool")))
    route = Route("hostile", upstream.url, headers={"X-Api-Key": "route-key"})
    assert await list_tool_names(route) == ("a_tool", "b_tool")
    listing = next(request for request in upstream.received if "tools/list" in request.methods())
    assert listing.header("X-Api-Key") == "route-key"
    assert listing.header("authorization") is None and listing.header("cookie") is None
    for name in IDENTITY_HEADERS:
        assert listing.header(name) == "", name


async def test_names_no_mcp_tool_may_have_are_left_out(upstream: HostileUpstream) -> None:
    upstream.reset(speaks_mcp(tools_page("fine", "evil\u202etool", "<script>", "a b", "x" * 129, "")))
    assert await list_tool_names(Route("hostile", upstream.url)) == ("fine",)


@pytest.mark.parametrize("answer", [flood, speaks_mcp(flood)], ids=["handshake", "list"])
async def test_a_flood_is_cut_at_the_byte_limit(upstream: HostileUpstream, answer: ToolsAnswer) -> None:
    upstream.reset(answer)
    with pytest.raises(TooLarge):
        await list_tool_names(Route("hostile", upstream.url))


async def test_endless_pages_stop_at_the_page_limit(upstream: HostileUpstream) -> None:
    upstream.reset(speaks_mcp(tools_page("again", cursor="more")))
    assert await list_tool_names(Route("hostile", upstream.url)) == ("again",)
    assert upstream.methods().count("tools/list") == tool_catalog.MAX_PAGES


@pytest.mark.parametrize(
    "answer",
    [speaks_mcp(flood), speaks_mcp(html), speaks_mcp(too_many), flood, html, elsewhere],
    ids=["flooded-list", "html-list", "too-many-tools", "flooded-handshake", "html", "redirect"],
)
async def test_a_hostile_upstream_is_left_out_and_the_others_listed(
    upstream: HostileUpstream, local_stack: Stack, answer: ToolsAnswer
) -> None:
    upstream.reset(answer)
    catalog = ToolCatalog(60.0)
    real = Route("fininfo", local_stack.ports.upstream_url("fininfo"))
    started = time.monotonic()
    try:
        found = await catalog.tools([Route("hostile", upstream.url), real])
    finally:
        await catalog.close()
    assert found == {"fininfo": FININFO_TOOLS}
    assert time.monotonic() - started < tool_catalog.WAIT_SECONDS + 1


async def test_a_silent_upstream_costs_one_wait_then_none(upstream: HostileUpstream) -> None:
    upstream.reset(stall)
    catalog = ToolCatalog(60.0)
    route = Route("hostile", upstream.url)
    try:
        started = time.monotonic()
        assert await catalog.tools([route]) == {}
        assert time.monotonic() - started < tool_catalog.WAIT_SECONDS + 1
        await asyncio.sleep(tool_catalog.FETCH_SECONDS - tool_catalog.WAIT_SECONDS + 0.5)
        started = time.monotonic()
        assert await catalog.tools([route]) == {}
        assert time.monotonic() - started < 0.5, "a failed listing is not retried on every page"
    finally:
        await catalog.close()


async def test_a_changed_route_is_listed_again(upstream: HostileUpstream) -> None:
    catalog = ToolCatalog(60.0)
    try:
        upstream.reset(speaks_mcp(tools_page("first")))
        assert await catalog.tools([Route("hostile", upstream.url)]) == {"hostile": ("first",)}
        upstream.reset(speaks_mcp(tools_page("second")))
        assert await catalog.tools([Route("hostile", upstream.url)]) == {"hostile": ("first",)}
        moved = Route("hostile", upstream.url, headers={"X-Moved": "1"})
        assert await catalog.tools([moved]) == {"hostile": ("second",)}
    finally:
        await catalog.close()


async def test_no_listing_when_the_catalog_is_off(upstream: HostileUpstream) -> None:
    upstream.reset()
    assert await ToolCatalog(0).tools([Route("hostile", upstream.url)]) == {}
    assert upstream.received == []


@pytest.mark.parametrize(
    "listing",
    [
        {"a": ("x", "y")},
        {"a": (), "b": ("with,comma", "with;semi", "with=eq", "caf\u00e9")},
        {"s.1_~-": ("t/1",)},
    ],
)
def test_the_tools_header_round_trips(listing: dict[str, tuple[str, ...]]) -> None:
    value = encode_tools(listing)
    assert all(" " < ch <= "~" for ch in value)
    assert decode_tools(value) == listing


def test_the_tools_header_stays_under_its_limit() -> None:
    listing = {f"server{n}": tuple(f"tool_{m}_{'x' * 100}" for m in range(100)) for n in range(5)}
    value = encode_tools(listing)
    assert len(value) <= 16_384
    kept = decode_tools(value)
    assert kept and set(kept) < set(listing), "whole servers are left out, never half a list"
    assert all(kept[server] == listing[server] for server in kept)
