"""Per-user outbound credentials end to end: the gateway asks a person to connect their account at a
provider (URL elicitation), a real headless Chromium consents, and the profile example greets the
provider's user with the token the gateway injects.

Everything is a real process: the gateway's local IdP (alice, admin), a second local IdP playing the
third-party provider (ada, grace) on 127.0.0.1 so its cookies are its own, the auth server with a
SQLite vault, the profile MCP server calling the provider's userinfo, and the gateway.  Both protocol
generations are driven by the official SDK client: sessions (-32042) and 2026-07-28 (input_required).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_types import ElicitRequestURLParams, ElicitResult, TextContent
from playwright.async_api import BrowserContext, Page, async_playwright

from devstack.processes import Service
from devstack.stack import EXAMPLES, MCP_CLIENT, PROVIDER, Ports, Stack, Upstream, start_provider, start_stack
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.idp_login import user_tokens
from tests.jsonrpc import stateless
from tests.test_vault import files_of

CLI_CALLBACK = "http://127.0.0.1:8765/callback"
POLICY = """
group_mappings:
  mcp-registry-admin: [everything]
  mcp-registry-user: [profile]
client_mappings:
  mcp-gateway-agent: [profile]
everything:
  - server: "*"
    methods: ["*"]
    tools: ["*"]
profile:
  - server: profile
    methods: [initialize, notifications/initialized, ping, tools/list, tools/call]
    tools: [hello]
"""


@dataclass
class ConnectStack:
    stack: Stack
    provider: Service
    provider_url: str
    vault: Path
    audit: Path

    def token(self, username: str) -> str:
        """The gateway user's access token, from the gateway's IdP, as an MCP client signs in."""
        password = self.stack.idp["users"][username]["password"]
        tokens = user_tokens(self.stack.idp_url, MCP_CLIENT, CLI_CALLBACK, username, password)
        return str(tokens["access_token"])

    def audit_events(self, name: str) -> list[dict[str, Any]]:
        lines = self.audit.read_text().splitlines() if self.audit.exists() else []
        return [event for event in map(json.loads, lines) if event.get("event") == name]

    def forget_connections(self) -> None:
        with sqlite3.connect(self.vault) as db:
            db.execute("DELETE FROM provider_tokens")


@pytest.fixture(scope="module")
def connect_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectStack]:
    workdir = tmp_path_factory.mktemp("connect")
    ports = Ports.free({"profile": EXAMPLES["profile"]})
    gateway_url = f"http://localhost:{ports.gateway}"
    provider = start_provider(workdir, ports.provider, gateway_url, token_seconds=4)  # handed out 2 s
    (workdir / "scopes.yml").write_text(POLICY)
    settings = {
        "SECRET_KEY": "connect-stack-" + "k" * 40,
        "SCOPES_CONFIG": str(workdir / "scopes.yml"),
        "PROVIDERS_CONFIG": str(provider.providers_config),
        "VAULT_STORE": str(workdir / "vault.db"),
        "AUDIT_LOG": str(workdir / "audit.log"),
    }
    routes = {
        "profile": {
            "url": ports.upstream_url("profile"),
            "credentials": {"type": "oauth2_user", "provider": PROVIDER},
        }
    }
    upstreams = {"profile": Upstream("example_servers.profile", ("--userinfo-url", provider.userinfo_url))}
    try:
        stack = start_stack(
            workdir,
            ports,
            settings=settings,
            upstreams=upstreams,
            routes=routes,
            callbacks={MCP_CLIENT: [CLI_CALLBACK]},
        )
    except Exception:
        provider.service.stop()
        raise
    yield ConnectStack(stack, provider.service, provider.url, workdir / "vault.db", workdir / "audit.log")
    stack.stop()
    provider.service.stop()


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(launched: Any, stack: Stack, username: str) -> BrowserContext:
    """A browser context signed in at the gateway as ``username``."""
    context: BrowserContext = await launched.new_context()
    page = await context.new_page()
    await page.goto(f"{stack.gateway_url}/")
    await page.click("#login")
    await page.wait_for_url(f"{stack.idp_url}/oauth2/authorize?**")
    await page.fill("#username", username)
    await page.fill("#password", stack.idp["users"][username]["password"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{stack.gateway_url}/")
    await page.close()
    return context


async def consent(context: BrowserContext, url: str, provider_url: str, account: str) -> Page:
    """Open the connect link and sign in at the provider as ``account``; the page that ends it."""
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_url(f"{provider_url}/oauth2/authorize?**")
    await page.fill("#username", account)
    await page.fill("#password", f"{account}-password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#connected")
    return page


@asynccontextmanager
async def mcp_client(stack: Stack, token: str, mode: str, **options: Any) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        transport = streamable_http_client(f"{stack.gateway_url}/profile/mcp", http_client=http)
        async with Client(transport, mode=mode, **options) as client:  # type: ignore[arg-type]
            yield client


def text_of(result: Any) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def accept_nothing(context: Any, params: Any) -> ElicitResult:
    """Declares URL elicitation to the server; never called in the session flow (the error carries it)."""
    return ElicitResult(action="cancel")


async def elicited(client: Client) -> list[ElicitRequestURLParams]:
    """The URL elicitations of the -32042 error a session client gets for ``hello``."""
    with pytest.raises(MCPError) as asked:
        await client.call_tool("hello", {})
    return UrlElicitationRequiredError.from_error(asked.value.error).elicitations


async def test_a_session_client_is_asked_to_connect_and_its_retry_greets_the_provider_user(
    connect_stack: ConnectStack,
) -> None:
    stack = connect_stack.stack
    connect_stack.forget_connections()
    token = connect_stack.token("alice")
    async with browser() as launched:
        alice = await signed_in(launched, stack, "alice")
        admin = await signed_in(launched, stack, "admin")
        async with mcp_client(stack, token, "legacy", elicitation_callback=accept_nothing) as client:
            elicitations = await elicited(client)
            assert len(elicitations) == 1
            url = elicitations[0].url
            assert url.startswith(f"{stack.gateway_url}/oauth2/connect/{PROVIDER}?link=")
            assert elicitations[0].elicitation_id and "Example Accounts" in elicitations[0].message

            forwarded = await admin.new_page()
            await forwarded.goto(url)
            assert "issued to another person" in await forwarded.inner_text("#error")
            assert connect_stack.audit_events("connect_refused")[-1]["reason"] == "another person's link"

            done = await consent(alice, url, connect_stack.provider_url, "ada")
            assert await done.inner_text("#account") == "ada"
            replayed = await alice.new_page()
            await replayed.goto(url)
            assert "already used" in await replayed.inner_text("#error")

            assert text_of(await client.call_tool("hello", {})) == "Hello, ada"
            connected = connect_stack.audit_events("credential_connected")[-1]
            assert (connected["user"], connected["provider"], connected["account"]) == (
                "alice",
                PROVIDER,
                "ada",
            )

            await asyncio.sleep(
                2.5
            )  # past the token's use-until: the next call is served by a refreshed token
            assert text_of(await client.call_tool("hello", {})) == "Hello, ada"
            assert any(
                event["user"] == "alice" for event in connect_stack.audit_events("credential_refreshed")
            )

            vault = files_of(connect_stack.vault)
            assert b"eyJ" not in vault and b"ada" not in vault, "no token, nor the account, in plaintext"

            home = await alice.new_page()
            await home.goto(f"{stack.gateway_url}/")
            assert "ada" in await home.inner_text(f"#connection-{PROVIDER}")
            await home.click(f"#disconnect-provider-{PROVIDER}")
            await home.wait_for_url(f"{stack.gateway_url}/")
            assert await home.is_visible(f"#connect-provider-{PROVIDER}")
            assert connect_stack.audit_events("credential_disconnected")[-1]["revoked"] is True

            assert (await elicited(client))[0].url != url, "asked again, with a new link"


async def test_a_2026_client_drives_the_input_required_round_trip_itself(connect_stack: ConnectStack) -> None:
    stack = connect_stack.stack
    connect_stack.forget_connections()
    token = connect_stack.token("admin")
    asked: list[str] = []
    async with browser() as launched:
        admin = await signed_in(launched, stack, "admin")

        async def open_in_browser(context: Any, params: Any) -> ElicitResult:
            assert isinstance(params, ElicitRequestURLParams)
            asked.append(params.url)
            await consent(admin, params.url, connect_stack.provider_url, "grace")
            return ElicitResult(action="accept")

        async with mcp_client(stack, token, "auto", elicitation_callback=open_in_browser) as client:
            assert text_of(await client.call_tool("hello", {})) == "Hello, grace"
            assert len(asked) == 1 and asked[0].startswith(
                f"{stack.gateway_url}/oauth2/connect/{PROVIDER}?link="
            )
            assert text_of(await client.call_tool("hello", {})) == "Hello, grace"
            assert len(asked) == 1, "connected once, no more questions"


async def test_declining_ends_the_call_with_a_tool_error(connect_stack: ConnectStack) -> None:
    connect_stack.forget_connections()

    async def decline(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="decline")

    async with mcp_client(
        connect_stack.stack, connect_stack.token("alice"), "auto", elicitation_callback=decline
    ) as client:
        result = await client.call_tool("hello", {})
    assert result.is_error and "did not connect your Example Accounts account" in text_of(result)


def raw_post(stack: Stack, token: str, body: dict[str, Any], headers: dict[str, str]) -> httpx2.Response:
    """One request to profile through the gateway, as a client with no MCP SDK sends it."""
    return httpx2.post(
        f"{stack.gateway_url}/profile/mcp",
        json=body,
        headers={**headers, "Authorization": f"Bearer {token}"},
        timeout=10,
    )


def raw_call(stack: Stack, token: str, **params: Any) -> httpx2.Response:
    return raw_post(stack, token, *stateless("tools/call", name="hello", arguments={}, **params))


def test_a_client_without_url_elicitation_gets_the_link_in_a_tool_error(connect_stack: ConnectStack) -> None:
    connect_stack.forget_connections()
    answer = raw_call(connect_stack.stack, connect_stack.token("alice"))
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["isError"] is True
    assert (
        f"{connect_stack.stack.gateway_url}/oauth2/connect/{PROVIDER}?link=" in result["content"][0]["text"]
    )


@pytest.mark.parametrize(
    "state",
    ["mcp-gateway.connect.not-signed", "mcp-gateway.connect.", "mcp-gateway.connect." + "A" * 3000],
)
def test_an_altered_request_state_is_refused(connect_stack: ConnectStack, state: str) -> None:
    answer = raw_call(connect_stack.stack, connect_stack.token("alice"), requestState=state)
    assert answer.status_code == 400
    assert "requestState is not valid" in answer.json()["error"]["message"]


def test_another_callers_request_state_is_refused(connect_stack: ConnectStack) -> None:
    connect_stack.forget_connections()
    capabilities = {"elicitation": {"url": {}}}
    body, headers = stateless("tools/call", name="hello", arguments={})
    body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities
    alice = raw_post(connect_stack.stack, connect_stack.token("alice"), body, headers)
    result = alice.json()["result"]
    assert result["resultType"] == "input_required"
    assert result["inputRequests"]["mcp-gateway/connect"]["params"]["mode"] == "url"
    refused = raw_call(connect_stack.stack, connect_stack.token("admin"), requestState=result["requestState"])
    assert refused.status_code == 400


def test_an_app_client_token_is_told_it_has_no_account(connect_stack: ConnectStack) -> None:
    agent = connect_stack.stack.idp["clients"]["mcp-gateway-agent"]
    token = httpx2.post(
        f"{connect_stack.stack.idp_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("mcp-gateway-agent", agent["secret"]),
        timeout=10,
    ).json()["access_token"]
    result = raw_call(connect_stack.stack, token).json()["result"]
    assert (
        result["isError"] is True
        and "an app client's token has no account there" in result["content"][0]["text"]
    )


def test_tools_list_needs_no_connection(connect_stack: ConnectStack) -> None:
    connect_stack.forget_connections()
    answer = raw_post(connect_stack.stack, connect_stack.token("alice"), *stateless("tools/list"))
    assert answer.status_code == 200 and "hello" in answer.text


async def test_connections_outlive_a_restart_of_the_auth_server_and_the_gateway(
    connect_stack: ConnectStack,
) -> None:
    stack = connect_stack.stack
    connect_stack.forget_connections()
    token = connect_stack.token("alice")
    async with browser() as launched:
        alice = await signed_in(launched, stack, "alice")
        async with mcp_client(stack, token, "legacy", elicitation_callback=accept_nothing) as client:
            url = (await elicited(client))[0].url
        await consent(alice, url, connect_stack.provider_url, "grace")
    stack.services["auth_server"].restart()
    stack.services["gateway"].restart()
    async with mcp_client(stack, token, "auto") as client:
        assert text_of(await client.call_tool("hello", {})) == "Hello, grace"
