"""nginx in front (``deploy/nginx/mcp-gateway.conf``), with Debian's nginx-light and Lua module,
asking the real auth server through ``auth_request`` and forwarding to the real example servers.

The configuration is the shipped one with only its addresses changed (:mod:`devstack.nginx_front`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from devstack.nginx_front import NginxFront
from devstack.stack import Stack
from tests.issuer import Issuer
from tests.jsonrpc import stateless
from tests.sessions import signed_in
from tests.stack import SECRET, start_issuer_stack
from tests.test_gateway import PATH_TRICKS, raw_request

ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def stack(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_issuer_stack(tmp_path_factory.mktemp("nginx-stack"), issuer)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def nginx(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxFront]:
    front = NginxFront(
        tmp_path_factory.mktemp("nginx"),
        {
            "auth-server:8888": f"127.0.0.1:{stack.ports.auth}",
            "currenttime:8001": f"127.0.0.1:{stack.ports.upstreams['currenttime']}",
            "fininfo:8002": f"127.0.0.1:{stack.ports.upstreams['fininfo']}",
        },
    )
    yield front
    front.stop()


@asynccontextmanager
async def connect(nginx: NginxFront, server: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{nginx.url}/{server}/mcp", http_client=http)
        async with Client(transport, mode="legacy") as client:  # type: ignore[arg-type]
            yield client


def call(nginx: NginxFront, path: str, token: str | None, body: bytes, **headers: str) -> httpx2.Response:
    sent = {"Accept": ACCEPT, "Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return httpx2.post(f"{nginx.url}{path}", content=body, headers=sent, timeout=10)


def tool_call(tool: str, indent: int | None = None, **arguments: Any) -> tuple[bytes, dict[str, str]]:
    body, headers = stateless("tools/call", name=tool, arguments=arguments)
    return json.dumps(body, indent=indent).encode(), headers


async def test_an_agent_calls_a_tool_through_nginx_with_the_official_sdk(
    nginx: NginxFront, issuer: Issuer
) -> None:
    headers = {"Authorization": f"Bearer {issuer.user_access_token('alice')}"}
    async with connect(nginx, "currenttime", headers) as client:
        result = await client.call_tool("current_time_by_timezone", {"timezone": "Asia/Tokyo"})
    assert "+09:00" in result.content[0].text  # type: ignore[union-attr]


async def test_identity_comes_from_the_decision_and_no_credential_goes_upstream(
    nginx: NginxFront, issuer: Issuer
) -> None:
    token = issuer.user_access_token("root", ["mcp-registry-admin"])
    spoofed = {
        "Authorization": f"Bearer {token}",
        "Cookie": "theme=dark; mcp_gateway_session=forged",
        "X-User": "mallory",
        "X_User": "mallory",
        "X-Scopes": "everything",
        "X-Auth-Method": "none",
        # Named to the auth server, it would ask for a connected account (and refuse: no providers).
        "X-Credential-Provider": "accounts",
        "X-Body": '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    }
    async with connect(nginx, "currenttime", spoofed) as client:
        seen = (await client.call_tool("whoami", {})).structured_content
    assert seen is not None
    assert (seen["x-user"], seen["x-username"], seen["x-auth-method"]) == ("root", "root", "jwt")
    assert (seen["x-server-name"], seen["x-tool-name"]) == ("currenttime", "whoami")
    assert "admin/all" in seen["x-scopes"].split()
    for name in ("authorization", "cookie", "x-credential-provider", "x-body", "x_user"):
        assert name not in seen, name
    assert token not in json.dumps(seen)


async def test_events_are_relayed_as_they_come(nginx: NginxFront, issuer: Issuer) -> None:
    headers = {"Authorization": f"Bearer {issuer.user_access_token('root', ['mcp-registry-admin'])}"}
    arrivals: list[float] = []
    async with connect(nginx, "currenttime", headers) as client:
        started = time.monotonic()

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            arrivals.append(time.monotonic() - started)

        result = await client.call_tool(
            "count_slowly", {"count": 4, "delay": 0.4}, progress_callback=on_progress
        )
        finished = time.monotonic() - started
    assert result.content[0].text == "counted to 4"  # type: ignore[union-attr]
    assert len(arrivals) == 4 and arrivals[0] < finished - 1.0, f"buffered: {arrivals}, end {finished}"


def test_a_pretty_printed_body_reaches_the_decision_whole(nginx: NginxFront, issuer: Issuer) -> None:
    """X-Body cannot hold line breaks; JSON's whitespace between tokens becomes spaces."""
    body, headers = tool_call("current_time_by_timezone", indent=2, timezone="UTC")
    assert b"\n" in body
    allowed = call(nginx, "/currenttime/mcp", issuer.user_access_token("alice"), body, **headers)
    assert allowed.status_code == 200, allowed.text
    forbidden, headers = tool_call("whoami", indent=2)
    refused = call(nginx, "/currenttime/mcp", issuer.user_access_token("alice"), forbidden, **headers)
    assert refused.status_code == 403, "the tool in a multi-line body is what was decided"


def test_without_a_token_an_oauth_client_gets_the_challenge(nginx: NginxFront) -> None:
    body, headers = tool_call("current_time_by_timezone")
    refused = call(nginx, "/currenttime/mcp", None, body, **headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/currenttime/mcp", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}', 403),
        ("/currenttime/mcp", b'{"jsonrpc": "2.0", "id": 1, "method": ', 400),
        ("/currenttime/mcp", b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}', 400),
        ("/currenttime/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * 70_000 + b'"}}', 413),
        ("/nosuchserver/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', 404),
    ],
    ids=["forbidden-tool", "broken-json", "duplicate-key", "too-large", "unknown-server"],
)  # fmt: skip
def test_refusals_are_json_with_the_decisions_status(
    nginx: NginxFront, issuer: Issuer, path: str, body: bytes, status: int
) -> None:
    refused = call(nginx, path, issuer.user_access_token("alice"), body)
    assert refused.status_code == status, refused.text
    assert "error" in refused.json()


def test_sign_in_and_discovery_are_the_auth_servers(nginx: NginxFront) -> None:
    metadata = httpx2.get(f"{nginx.url}/.well-known/oauth-protected-resource/currenttime/mcp", timeout=10)
    assert metadata.status_code == 200 and metadata.json()["resource"].endswith("/currenttime/mcp")
    home = httpx2.get(f"{nginx.url}/", timeout=10)
    assert home.status_code == 200 and "Sign in" in home.text


@pytest.mark.parametrize("target", PATH_TRICKS)
def test_path_tricks_never_reach_another_server(
    nginx: NginxFront, stack: Stack, issuer: Issuer, target: str
) -> None:
    """nginx routes on its normalised path and the auth server decides on the raw one, which it
    refuses when normalising would change it: the server decided about is the one routed to."""
    before = stack.services["fininfo"].log_text().count("POST")
    status = raw_request(nginx.url, target, issuer.user_access_token())
    assert 400 <= status < 500
    assert stack.services["fininfo"].log_text().count("POST") == before


def test_a_caller_cannot_tell_the_home_page_what_servers_there_are(nginx: NginxFront, stack: Stack) -> None:
    """X-Gateway-Servers is the Python gateway's word to the auth server, never a caller's."""
    cookie = signed_in(stack.session_store, SECRET, "carol", ("mcp-registry-admin",))
    home = httpx2.get(
        f"{nginx.url}/",
        headers={"Cookie": f"mcp_gateway_session={cookie}", "X-Gateway-Servers": "currenttime,fininfo"},
        timeout=10,
    )
    assert home.status_code == 200 and 'id="user"' in home.text
    assert "/currenttime/mcp" not in home.text and "/fininfo/mcp" not in home.text
