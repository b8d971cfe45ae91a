"""``docker compose up`` with the project's own compose file, against a real Docker engine.

The files are the repository's as a fresh clone has them; the only override is the one the
README gives for building without a registry: a base image made locally by debootstrap
(``scripts/docker-base-image``) and the wheels built on this machine
(``scripts/docker-wheels``), with no network during the build.  Then, from the host, as a user
would: a person signs in through the local IdP in Chromium, connects their account at the
second local IdP (the provider) and the profile example greets them, an agent calls a tool with
the official SDK, a forbidden call is refused, the user's own MCP server is added by editing the
mounted route and policy files, ``down`` is clean, and ``up`` again keeps the IdP's key.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from playwright.sync_api import Page, sync_playwright

from devstack.processes import Service
from mcp_gateway_auth import BearerAuth, ClientCredentials
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.idp_login import user_tokens
from tests.jsonrpc import INITIALIZE, stateless
from tests.servers import ROOT

PROJECT = "mcpgwtest"
BASE_IMAGE = "mcp-gateway-base:bookworm"
GATEWAY = "http://localhost:8080"
IDP = "http://localhost:9000"
CLI_CALLBACK = "http://127.0.0.1:8765/callback"
OFFLINE = {
    "build": {
        "context": ".",
        "network": "none",
        "args": {"BASE_IMAGE": BASE_IMAGE, "PIP_FIND_LINKS": ".docker-wheels"},
    }
}
PROVIDER_IDP = "http://127.0.0.1:9100"
SERVICES = ("idp", "provider-idp", "auth-server", "currenttime", "fininfo", "profile", "gateway")


def compose_command() -> list[str]:
    """Compose v2 when the engine's CLI has it, else docker-compose 1.29 (Debian's)."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if v2.returncode == 0 else ["docker-compose"]


@dataclass
class Compose:
    workdir: Path
    command: list[str]

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, "-p", PROJECT, "-f", "docker-compose.yml", "-f", "offline.yml", *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self) -> list[dict[str, Any]]:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not ids:
            return []
        described = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True)
        return list(json.loads(described.stdout))

    def up(self) -> float:
        """``up -d --build``, then wait until every service is healthy and the gateway ready."""
        started = time.monotonic()
        result = self("up", "-d", "--build")
        assert result.returncode == 0, result.stdout + result.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = {
                container["Config"]["Labels"]["com.docker.compose.service"]: container["State"]
                .get("Health", {})
                .get("Status")
                for container in self.containers()
            }
            if set(states) == set(SERVICES) and set(states.values()) == {"healthy"}:
                break
            time.sleep(1)
        else:
            logs = self("logs", "--tail", "20").stdout
            raise AssertionError(f"services not healthy: {states}\n{logs}")
        assert httpx2.get(f"{GATEWAY}/ready", timeout=5).status_code == 200
        return time.monotonic() - started


def _copy_checkout(target: Path) -> None:
    """What a fresh clone holds: tracked files (and new ones not ignored), nothing generated."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    info = subprocess.run(["docker", "info"], capture_output=True, check=False)
    assert info.returncode == 0, "a running Docker engine is required (./scripts/test starts dockerd)"
    workdir = tmp_path_factory.mktemp("compose") / "checkout"
    workdir.mkdir()
    _copy_checkout(workdir)
    for script, env in (("docker-base-image", {}), ("docker-wheels", {"PYTHON": sys.executable})):
        made = subprocess.run(
            [str(workdir / "scripts" / script)],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, **env},
        )
        assert made.returncode == 0, made.stdout + made.stderr
    (workdir / "offline.yml").write_text(json.dumps({"services": dict.fromkeys(SERVICES, OFFLINE)}))
    running = Compose(workdir, compose_command())
    running("down", "-v", "--remove-orphans")
    for port in (8080, 9000, 9100):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, (
                f"port {port} is taken; compose publishes the gateway and the IdPs there"
            )
    running.up()
    yield running
    running("down", "-v", "--remove-orphans")


def test_every_service_is_healthy_unprivileged_read_only_and_under_an_init(compose: Compose) -> None:
    for container in compose.containers():
        name = container["Name"]
        assert container["State"]["Health"]["Status"] == "healthy", name
        assert container["Config"]["User"] not in ("", "0", "root"), name
        assert container["HostConfig"]["ReadonlyRootfs"] is True, name
        assert container["HostConfig"]["Init"] is True, name
    gateway = next(
        c for c in compose.containers() if c["Config"]["Labels"]["com.docker.compose.service"] == "gateway"
    )
    mounts = {mount["Destination"]: mount for mount in gateway["Mounts"]}
    assert mounts["/config"]["RW"] is False, "routes and policy are mounted read-only, not baked in"


@contextmanager
def signed_in_page(username: str) -> Iterator[Page]:
    """Chromium on the gateway's home page, signed in through the local IdP as ``username``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{GATEWAY}/")
            page.click("#login")
            page.wait_for_url(f"{IDP}/oauth2/authorize?**")
            page.fill("#username", username)
            page.fill("#password", f"{username}-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{GATEWAY}/")
            yield page
        finally:
            browser.close()


def test_a_person_signs_in_through_the_local_idp_in_chromium(compose: Compose) -> None:
    with signed_in_page("alice") as page:
        assert page.inner_text("#user") == "alice"
        assert f"{GATEWAY}/currenttime/mcp" in page.inner_text("table")


def hello(token: str) -> dict[str, Any]:
    """The profile example's hello through the gateway, from a client without URL elicitation."""
    body, headers = stateless("tools/call", name="hello", arguments={})
    answer = httpx2.post(
        f"{GATEWAY}/profile/mcp",
        json=body,
        headers={**headers, "Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["result"])


def test_a_person_connects_their_account_at_the_provider_and_profile_greets_them(compose: Compose) -> None:
    """The whole per-user credentials flow in compose: the link, consent at the second IdP, the greeting."""
    token = user_tokens(IDP, "mcp-client", CLI_CALLBACK, "alice", "alice-password")["access_token"]
    asked = hello(token)
    assert asked["isError"] is True
    link = re.search(rf"{GATEWAY}/oauth2/connect/accounts\?link=\S+", asked["content"][0]["text"])
    assert link is not None, asked
    with signed_in_page("alice") as page:
        page.goto(link.group(0))
        page.wait_for_url(f"{PROVIDER_IDP}/oauth2/authorize?**")
        page.fill("#username", "ada")
        page.fill("#password", "ada-password")
        page.click("button[type=submit]")
        page.wait_for_selector("#connected")
        assert page.inner_text("#account") == "ada"
        page.goto(f"{GATEWAY}/")
        assert page.locator("#disconnect-provider-accounts").count() == 1, "the home page lists it"
    greeted = hello(token)
    assert greeted.get("isError") is not True, greeted
    assert "Hello, ada" in greeted["content"][0]["text"]


def initialize(server: str, token: str) -> int:
    """The status of an MCP initialize through the gateway with ``token``."""
    answer = httpx2.post(
        f"{GATEWAY}/{server}/mcp",
        json=INITIALIZE,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    return answer.status_code


def agent() -> ClientCredentials:
    return ClientCredentials("mcp-gateway-agent", "agent-dev-secret", token_url=f"{IDP}/oauth2/token")


@asynccontextmanager
async def connect(server: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(auth=BearerAuth(agent()), timeout=30) as http,
        Client(streamable_http_client(f"{GATEWAY}/{server}/mcp", http_client=http)) as client,  # type: ignore[arg-type]
    ):
        yield client


async def call(server: str, tool: str, arguments: dict[str, Any]) -> str:
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_an_agent_calls_a_tool_and_a_forbidden_call_is_refused(compose: Compose) -> None:
    assert "+09:00" in await call("currenttime", "current_time_by_timezone", {"timezone": "Asia/Tokyo"})
    async with connect("fininfo") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("place_trade", {"ticker": "ACME", "quantity": 1})
    assert "needs scope mcp-servers-unrestricted/execute" in str(refused.value)


async def test_your_own_server_is_added_by_editing_the_mounted_routes_and_policy(compose: Compose) -> None:
    own = Service("example_servers.currenttime", {}, compose.workdir / "own.log", (), host="0.0.0.0")
    own.wait_healthy()
    try:
        routes = compose.workdir / "deploy" / "compose-routes.yml"
        routes.write_text(
            routes.read_text() + f"  mytime:\n    url: http://host.docker.internal:{own.port}\n"
        )
        policy = compose.workdir / "scopes.yml"
        rule = "mcp-servers-restricted/read:\n"
        assert policy.read_text().count(f"\n{rule}") == 1
        policy.write_text(
            policy.read_text().replace(
                f"\n{rule}",
                f"\n{rule}  - server: mytime\n    methods: [initialize, notifications/initialized, tools/list, tools/call]\n"
                "    tools: [current_time_by_timezone]\n",
            )
        )
        token = await agent().token()
        for _ in range(60):  # the gateway and the auth server notice the edits within seconds
            if initialize("mytime", token) == 200:
                break
            await asyncio.sleep(0.5)
        assert "+00:00" in await call("mytime", "current_time_by_timezone", {"timezone": "UTC"})
    finally:
        own.stop()


def test_down_is_clean_and_up_again_keeps_the_idps_key(compose: Compose) -> None:
    token = httpx2.post(
        f"{IDP}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("mcp-gateway-agent", "agent-dev-secret"),
        timeout=10,
    ).json()["access_token"]
    stopped = compose("stop", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    for container in compose.containers():
        assert container["State"]["ExitCode"] != 137, f"{container['Name']} had to be killed: SIGTERM ignored"
    down = compose("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert compose.containers() == []
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert networks.stdout.strip() == ""

    compose.up()
    assert initialize("currenttime", token) == 200, (
        "a token from before down is still valid: the IdP kept its key"
    )
