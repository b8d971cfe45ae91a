"""OAuth discovery for MCP clients, and the official SDK's OAuth clients starting from nothing but the URL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from devstack.stack import Stack
from mcp_gateway_auth.sdk_storage import FileTokenStorage

CALLBACK = "http://127.0.0.1:8765/callback"


@pytest.mark.parametrize("path", ["/currenttime/mcp", "/fininfo/mcp", "/currenttime/sse"])
def test_401_points_at_resource_metadata_whose_resource_matches_byte_for_byte(
    local_stack: Stack, path: str
) -> None:
    challenge = httpx2.post(f"{local_stack.gateway_url}{path}", json={}).headers["www-authenticate"]
    metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert (
        metadata_url is not None
        and metadata_url.group(1) == f"{local_stack.gateway_url}/.well-known/oauth-protected-resource{path}"
    )
    assert "scope=" not in challenge
    metadata = httpx2.get(metadata_url.group(1)).json()
    assert metadata["resource"] == f"{local_stack.gateway_url}{path}"
    assert metadata["authorization_servers"] == [local_stack.gateway_url]
    assert metadata["bearer_methods_supported"] == ["header"]
    assert metadata["scopes_supported"] == ["mcp-servers-restricted/read"]


def test_root_and_unknown_resource_metadata(local_stack: Stack) -> None:
    root = httpx2.get(f"{local_stack.gateway_url}/.well-known/oauth-protected-resource").json()
    assert root["resource"] == local_stack.gateway_url
    assert root["scopes_supported"] == ["mcp-servers-restricted/read"], "wildcard scopes are not offered"
    missing = httpx2.get(f"{local_stack.gateway_url}/.well-known/oauth-protected-resource/nosuch/mcp")
    assert missing.status_code == 404
    spoofed = httpx2.get(
        f"{local_stack.gateway_url}/.well-known/oauth-protected-resource/nosuch/mcp",
        headers={"X-Gateway-Servers": "nosuch"},
    )
    assert spoofed.status_code == 404, "the gateway's own route list wins over a caller's header"


@pytest.mark.parametrize("document", ["oauth-authorization-server", "openid-configuration"])
def test_authorization_server_metadata_republishes_the_idp_with_pkce(
    local_stack: Stack, document: str
) -> None:
    metadata = httpx2.get(f"{local_stack.gateway_url}/.well-known/{document}").json()
    assert metadata["issuer"] == local_stack.gateway_url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_endpoint"] == f"{local_stack.idp_url}/oauth2/authorize"
    assert metadata["token_endpoint"] == f"{local_stack.idp_url}/oauth2/token"
    assert metadata["jwks_uri"] == f"{local_stack.idp_url}/us-east-1_localdev/.well-known/jwks.json"
    assert metadata["scopes_supported"] == ["openid", "email", "profile", "mcp-servers-restricted/read"]
    assert httpx2.get(metadata["jwks_uri"]).status_code == 200


class MemoryStorage:
    def __init__(self, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client = client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class FormFillingUser:
    """Plays the person at the browser: opens the authorization URL and signs in on the IdP's form."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.result: AuthorizationCodeResult | None = None
        self.authorization_urls: list[str] = []

    async def redirect(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=15) as browser:
            form = await browser.get(authorization_url)
            assert form.status_code == 200, form.text
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text))
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorization_url))
            answer = await browser.post(
                f"{origin}/login", data={**fields, "username": self.username, "password": self.password}
            )
        assert answer.status_code == 302 and answer.headers["location"].startswith(CALLBACK), answer.text
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        self.result = AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def test_sdk_oauth_client_runs_code_flow_from_the_gateway_url(local_stack: Stack) -> None:
    user = FormFillingUser("alice", "alice-password")
    server_url = f"{local_stack.gateway_url}/currenttime/mcp"
    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[CALLBACK],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
        ),
        storage=MemoryStorage(
            OAuthClientInformationFull(
                client_id="mcp-client", redirect_uris=[CALLBACK], token_endpoint_auth_method="none"
            )
        ),
        redirect_handler=user.redirect,
        callback_handler=user.callback,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(server_url, http_client=http), mode="auto") as client,  # type: ignore[arg-type]
    ):
        tools = [tool.name for tool in (await client.list_tools()).tools]
        assert tools == ["current_time_by_timezone"]
        result = await client.call_tool("current_time_by_timezone", {"timezone": "UTC"})
        assert result.content[0].text.endswith("+00:00")  # type: ignore[union-attr]
    assert len(user.authorization_urls) == 1
    query = parse_qs(urlsplit(user.authorization_urls[0]).query)
    assert user.authorization_urls[0].startswith(f"{local_stack.idp_url}/oauth2/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["mcp-servers-restricted/read"]


async def test_sdk_client_credentials_client_from_the_gateway_url(local_stack: Stack) -> None:
    server_url = f"{local_stack.gateway_url}/fininfo/mcp"
    provider = ClientCredentialsOAuthProvider(
        server_url=server_url,
        storage=MemoryStorage(),
        client_id="mcp-gateway-agent",
        client_secret="agent-dev-secret",
        issuer=local_stack.gateway_url,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(server_url, http_client=http), mode="auto") as client,  # type: ignore[arg-type]
    ):
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == ["get_stock_aggregates", "print_stock_data"]
        result = await client.call_tool("print_stock_data", {"ticker": "ACME"})
        assert "ACME" in result.content[0].text  # type: ignore[union-attr]


async def test_the_sdks_client_credentials_provider_keeps_its_token_in_a_private_file(
    local_stack: Stack, tmp_path: Path
) -> None:
    """The agent package's FileTokenStorage under the SDK's provider: 0600, reused by the next run."""
    server_url = f"{local_stack.gateway_url}/fininfo/mcp"
    path = tmp_path / "agent" / "tokens.json"

    async def list_tools() -> list[str]:
        provider = ClientCredentialsOAuthProvider(
            server_url=server_url,
            storage=FileTokenStorage(path),
            client_id="mcp-gateway-agent",
            client_secret="agent-dev-secret",
            issuer=local_stack.gateway_url,
        )
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(server_url, http_client=http), mode="auto") as client,  # type: ignore[arg-type]
        ):
            return sorted(tool.name for tool in (await client.list_tools()).tools)

    assert await list_tools() == ["get_stock_aggregates", "print_stock_data"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    first = json.loads(path.read_text())["tokens"]["access_token"]
    assert await list_tools() == ["get_stock_aggregates", "print_stock_data"]
    assert json.loads(path.read_text())["tokens"]["access_token"] == first, "the stored token was reused"
