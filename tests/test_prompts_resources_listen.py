"""Prompts, resources and the 2026-07-28 listen stream through the gateway, with the official SDK client.

rita holds only the ``fin/read`` scope: some resources (``fin://tickers``, ``fin://quote/*``)
and one prompt (``market_summary``) on fininfo.  What she may not use is missing from her
lists and refused, with a reason the SDK shows, when she asks for it anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from devstack.stack import Stack
from tests.issuer import Issuer
from tests.jsonrpc import notification
from tests.stack import start_issuer_stack

MODES = ["legacy", "auto"]


@pytest.fixture(scope="module")
def stack(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_issuer_stack(tmp_path_factory.mktemp("features"), issuer)
    yield running
    running.stop()


@asynccontextmanager
async def connect(stack: Stack, server: str, token: str, mode: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        transport = streamable_http_client(f"{stack.gateway_url}/{server}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


def rita(issuer: Issuer) -> str:
    return issuer.user_access_token("rita", [], scope="fin/read")


@pytest.mark.parametrize("mode", MODES)
async def test_lists_show_only_the_prompts_and_resources_the_caller_may_use(
    stack: Stack, issuer: Issuer, mode: str
) -> None:
    async with connect(stack, "fininfo", rita(issuer), mode) as client:
        assert [str(r.uri) for r in (await client.list_resources()).resources] == ["fin://tickers"]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["fin://quote/{ticker}"]
        assert [p.name for p in (await client.list_prompts()).prompts] == ["market_summary"]
    admin = issuer.user_access_token("root", ["mcp-registry-admin"])
    async with connect(stack, "fininfo", admin, mode) as client:
        assert len((await client.list_resources()).resources) == 2, "a rule naming no resources limits none"
        assert len((await client.list_prompts()).prompts) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_allowed_items_work_and_others_are_refused_with_a_reason(
    stack: Stack, issuer: Issuer, mode: str
) -> None:
    async with connect(stack, "fininfo", rita(issuer), mode) as client:
        assert "ACME" in str((await client.read_resource("fin://tickers")).contents[0])
        assert "ACME" in str((await client.read_resource("fin://quote/acme")).contents[0])
        assert "ACME" in str((await client.get_prompt("market_summary", {"ticker": "acme"})).messages[0])
        with pytest.raises(MCPError) as refused:
            await client.read_resource("fin://accounts/main")
        assert "resources/read of resource 'fin://accounts/main' on server 'fininfo'" in str(refused.value)
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("trading_plan", {"budget": "1"})
        assert "prompts/get of prompt 'trading_plan' on server 'fininfo'" in str(refused.value)


async def test_the_listen_stream_is_access_to_the_server(stack: Stack, issuer: Issuer) -> None:
    """alice's rule lists no subscriptions/listen: the stream is access, like the GET stream it succeeds."""
    alice = issuer.user_access_token("alice", ["mcp-registry-user"])
    async with connect(stack, "currenttime", alice, "auto") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            assert subscription is not None
        assert [tool.name for tool in (await client.list_tools()).tools] == ["current_time_by_timezone"]


@pytest.mark.parametrize(
    "method", ["notifications/place_trade", "notifications/message", "sampling/createMessage", "custom/thing"]
)
def test_methods_outside_the_clients_schema_are_refused_unless_named(
    stack: Stack, issuer: Issuer, method: str
) -> None:
    alice = issuer.user_access_token("alice", ["mcp-registry-user"])
    answer = httpx2.post(
        f"{stack.gateway_url}/currenttime/mcp",
        json=notification(method),
        headers={"Authorization": f"Bearer {alice}", "Accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 403, answer.text
