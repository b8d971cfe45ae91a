"""The agent-side token helper, CLI login and example agent, against the real local stack.

Longer than most modules: the whole agent side (tokens, retries, errors, CLI, example) is tried
against the one shared stack, and splitting it would only scatter that.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from devstack.stack import Stack
from mcp_gateway_auth import BearerAuth, ClientCredentials, TokenError, token_endpoint
from mcp_gateway_auth.client_credentials import refresh_time
from mcp_gateway_auth.user_login import UserTokens
from tests.conftest import LOGIN_PORT
from tests.servers import ROOT, free_port


@pytest.fixture(scope="module")
def short_lived_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local IdP whose agent tokens live 3 seconds (for refresh timing)."""
    from tests.servers import ServiceProcess

    workdir = tmp_path_factory.mktemp("short-idp")
    config = yaml.safe_load((ROOT / "local_idp" / "dev.yml").read_text())
    config["clients"]["mcp-gateway-agent"]["access_token_seconds"] = 3
    (workdir / "idp.yml").write_text(yaml.safe_dump(config))
    service = ServiceProcess("local_idp", {"IDP_CONFIG": str(workdir / "idp.yml")}, workdir / "idp.log")
    service.wait_healthy()
    yield f"{service.url}/oauth2/token"
    service.stop()


def counting_client() -> tuple[httpx2.AsyncClient, list[str]]:
    seen: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(str(request.url))

    return httpx2.AsyncClient(timeout=5, event_hooks={"request": [hook]}), seen


def agent(local_stack: Stack, **options: Any) -> ClientCredentials:
    return ClientCredentials(
        "mcp-gateway-agent", "agent-dev-secret", token_url=f"{local_stack.idp_url}/oauth2/token", **options
    )


def test_token_endpoint_is_derived_from_what_the_agent_knows() -> None:
    assert token_endpoint("https://x/oauth2/token") == "https://x/oauth2/token"
    assert (
        token_endpoint(domain="my-app", region="eu-west-1")
        == "https://my-app.auth.eu-west-1.amazoncognito.com/oauth2/token"
    )
    assert token_endpoint(domain="my-app", pool_id="ap-southeast-2_AbC") == (
        "https://my-app.auth.ap-southeast-2.amazoncognito.com/oauth2/token"
    )
    assert token_endpoint(domain="https://auth.example.com/") == "https://auth.example.com/oauth2/token"
    for bad in ({}, {"domain": "my-app"}, {"domain": "Bad_Prefix", "region": "us-east-1"}):
        with pytest.raises(ValueError):
            token_endpoint(**bad)  # type: ignore[arg-type]


def test_refresh_time_is_75_percent_or_5_minutes_early_whichever_is_first() -> None:
    assert refresh_time(1000, 3600) == 1000 + 2700
    assert refresh_time(1000, 600) == 1000 + 300
    assert refresh_time(1000, 60) == 1000 + 45


async def test_many_calls_one_token_request(local_stack: Stack) -> None:
    http, seen = counting_client()
    async with http:
        source = agent(local_stack, http=http)
        tokens = await asyncio.gather(*(source.token() for _ in range(50)))
        tokens += [await source.token() for _ in range(20)]
    assert len(set(tokens)) == 1
    assert len(seen) == 1 and source.requests == 1


async def test_expiry_driven_refresh(short_lived_idp: str) -> None:
    http, seen = counting_client()
    async with http:
        source = ClientCredentials(
            "mcp-gateway-agent", "agent-dev-secret", token_url=short_lived_idp, http=http
        )
        first = await source.token()
        assert await source.token() == first
        await asyncio.sleep(2.4)
        second = await source.token()
    assert second != first and len(seen) == 2


async def test_disk_cache_is_private_and_reused(local_stack: Stack, tmp_path: Path) -> None:
    cache = tmp_path / "cfg" / "agent-token.json"
    first = agent(local_stack, cache_file=cache)
    token = await first.token()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    http, seen = counting_client()
    async with http:
        second = agent(local_stack, cache_file=cache, http=http)
        assert await second.token() == token
    assert seen == []
    other_scope = agent(local_stack, cache_file=cache, scopes=("mcp-servers-restricted/read",))
    assert await other_scope.token() != token, "a cache for other scopes is not reused"


class FlakyTokenEndpoint:
    """A token endpoint that fails on purpose: a script of (status, delay) per request."""

    def __init__(self, script: list[tuple[int, float]]) -> None:
        self.script = script
        self.requests = 0
        self.authorizations: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.authorizations.append(self.headers.get("Authorization", ""))
                status, delay = outer.script[min(outer.requests, len(outer.script) - 1)]
                outer.requests += 1
                time.sleep(delay)
                body = {"access_token": "a.b.c", "expires_in": 3600, "token_type": "Bearer"}
                if status == 400:
                    body = {"error": "invalid_client"}
                elif status >= 300:
                    body = {"error": "server_error"}
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/token"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("script", "attempts", "outcome", "requests"),
    [
        ([(503, 0), (502, 0), (200, 0)], 4, "a.b.c", 3),
        ([(500, 0)], 3, "answered 500", 3),
        ([(429, 0), (200, 0)], 3, "a.b.c", 2),
        ([(200, 2.0)], 2, "timed out", 2),
        ([(400, 0)], 4, "invalid_client", 1),
        ([(401, 0)], 4, "HTTP 401: the token endpoint refused the client's authentication", 1),
        ([(403, 0)], 4, "HTTP 403: the token endpoint (or a firewall", 1),
    ],
)
async def test_retries_and_no_retries(
    script: list[tuple[int, float]], attempts: int, outcome: str, requests: int
) -> None:
    endpoint = FlakyTokenEndpoint(script)
    try:
        async with httpx2.AsyncClient(timeout=0.5) as http:
            source = ClientCredentials(
                "id", "", token_url=endpoint.url, http=http, attempts=attempts, backoff=0.05
            )
            try:
                result = await source.token()
            except TokenError as exc:
                result = str(exc)
        assert outcome in result
        assert endpoint.requests == requests
        assert endpoint.authorizations[0] == "Basic aWQ6", (
            "client_id:secret with the colon kept for an empty secret"
        )
    finally:
        endpoint.close()


@pytest.mark.parametrize(
    ("client_id", "secret", "scopes", "path", "expected"),
    [
        (
            "mcp-gateway-agent",
            "wrong",
            (),
            "/oauth2/token",
            "invalid_client, HTTP 400: the app client id 'mcp-gateway-agent' or its secret is wrong",
        ),
        ("mcp-gateway-web", "", (), "/oauth2/token", "does not have the client_credentials flow enabled"),
        (
            "mcp-gateway-agent",
            "agent-dev-secret",
            ("mcp-servers-unrestricted/execute",),
            "/oauth2/token",
            "is not allowed the scopes asked for: mcp-servers-unrestricted/execute",
        ),
        (
            "mcp-gateway-agent",
            "agent-dev-secret",
            (),
            "/token",
            "answered 404: wrong token URL or Cognito domain",
        ),
    ],
)
async def test_error_messages_name_the_fix(
    local_stack: Stack, client_id: str, secret: str, scopes: tuple[str, ...], path: str, expected: str
) -> None:
    source = ClientCredentials(
        client_id, secret, token_url=f"{local_stack.idp_url}{path}", scopes=scopes, backoff=0.01
    )
    with pytest.raises(TokenError) as caught:
        await source.token()
    assert expected in str(caught.value)


async def test_unreachable_token_url_names_the_domain() -> None:
    source = ClientCredentials(
        "id", "s", token_url=f"http://127.0.0.1:{free_port()}/oauth2/token", attempts=2, backoff=0.01
    )
    with pytest.raises(TokenError) as caught:
        await source.token()
    assert "cannot connect to 127.0.0.1" in str(caught.value) and "wrong Cognito domain" in str(caught.value)


async def test_bearer_auth_with_the_sdk_client_recovers_from_a_rejected_token(
    local_stack: Stack, tmp_path: Path
) -> None:
    cache = tmp_path / "token.json"
    source = agent(local_stack, cache_file=cache)
    await source.token()
    record = json.loads(cache.read_text())
    cache.write_text(json.dumps({**record, "access_token": "x.y.z"}))
    stale = agent(local_stack, cache_file=cache)
    async with (
        httpx2.AsyncClient(auth=BearerAuth(stale), timeout=30) as http,
        Client(
            streamable_http_client(f"{local_stack.gateway_url}/currenttime/mcp", http_client=http)
        ) as client,  # type: ignore[arg-type]
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "current_time_by_timezone" in names
    assert stale.requests == 1, "the rejected cached token was replaced once"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_gateway_auth", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_command_prints_a_token_or_its_claims(local_stack: Stack) -> None:
    flags = ["--gateway", local_stack.gateway_url, "--client-id", "mcp-gateway-agent"]
    plain = cli("token", *flags, env={"MCP_CLIENT_SECRET": "agent-dev-secret"})
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count(".") == 2
    decoded = cli(
        "token",
        *flags,
        "--decode",
        "--scope",
        "mcp-servers-restricted/read",
        env={"MCP_CLIENT_SECRET": "agent-dev-secret"},
    )
    claims = json.loads(decoded.stdout)["claims"]
    assert claims["client_id"] == "mcp-gateway-agent" and claims["scope"] == "mcp-servers-restricted/read"
    wrong = cli("token", *flags, env={"MCP_CLIENT_SECRET": "nope"})
    assert wrong.returncode == 1 and "invalid_client" in wrong.stderr and "nope" not in wrong.stderr


def run_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "examples/agent.py", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_cli_login(local_stack: Stack, token_file: Path) -> subprocess.CompletedProcess[str]:
    """Drive `login --no-browser` as a person would: open the printed URL, fill the IdP form, follow back."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_gateway_auth",
            "login",
            "--gateway",
            local_stack.gateway_url,
            "--client-id",
            "mcp-client",
            "--no-browser",
            "--port",
            str(LOGIN_PORT),
            "--token-file",
            str(token_file),
        ],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    process.stderr.readline()
    url = process.stderr.readline().strip()
    assert url.startswith(f"{local_stack.idp_url}/oauth2/authorize?"), url
    with httpx2.Client(follow_redirects=False, timeout=15) as browser:
        form = browser.get(url)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text))
        redirect = browser.post(
            f"{local_stack.idp_url}/login", data={**fields, "username": "alice", "password": "alice-password"}
        )
        callback = redirect.headers["location"]
        assert callback.startswith(f"http://127.0.0.1:{LOGIN_PORT}/callback?")
        assert "logged in" in browser.get(callback).text
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_cli_login_stores_private_tokens_and_refreshes(local_stack: Stack, tmp_path: Path) -> None:
    token_file = tmp_path / "config" / "tokens.json"
    result = run_cli_login(local_stack, token_file)
    assert result.returncode == 0, result.stderr
    assert "Authorization: Bearer" in result.stdout
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    record = json.loads(token_file.read_text())
    assert record["client_id"] == "mcp-client" and record["refresh_token"]

    printed = cli("user-token", "--token-file", str(token_file))
    assert printed.returncode == 0 and printed.stdout.strip() == record["access_token"]
    token_file.write_text(json.dumps({**record, "refresh_at": 0}))
    refreshed = cli("user-token", "--token-file", str(token_file), "--decode")
    assert json.loads(refreshed.stdout)["claims"]["username"] == "alice"
    assert json.loads(token_file.read_text())["access_token"] != record["access_token"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    agent_run = run_agent(
        "--gateway",
        local_stack.gateway_url,
        "--server",
        "currenttime",
        "--user",
        "--token-file",
        str(token_file),
        "--arguments",
        '{"timezone": "Europe/Paris"}',
    )
    assert agent_run.returncode == 0, agent_run.stderr
    assert "tools I may use on currenttime: current_time_by_timezone" in agent_run.stdout
    assert "current_time_by_timezone -> " in agent_run.stdout


def test_user_tokens_without_a_login_explain_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TokenError) as caught:
        asyncio.run(UserTokens(tmp_path / "none.json").token())
    assert "python -m mcp_gateway_auth login" in str(caught.value)


def test_example_agent_as_itself(local_stack: Stack) -> None:
    run = run_agent(
        "--gateway",
        local_stack.gateway_url,
        "--server",
        "fininfo",
        "--tool",
        "print_stock_data",
        "--arguments",
        '{"ticker": "ACME"}',
        env={"MCP_CLIENT_SECRET": "agent-dev-secret"},
    )
    assert run.returncode == 0, run.stderr
    assert "tools I may use on fininfo: get_stock_aggregates, print_stock_data" in run.stdout
    assert "print_stock_data -> ACME: last" in run.stdout


def test_helper_imports_without_the_server_dependencies() -> None:
    probe = (
        "import sys, mcp_gateway_auth, mcp_gateway_auth.__main__; "
        "print([m for m in ('fastapi', 'starlette', 'uvicorn', 'joserfc', 'authlib', 'auth_server', 'yaml', "
        "'itsdangerous', 'aiohttp', 'mcp') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_agent_distribution_depends_on_nothing_of_the_servers() -> None:
    agent = tomllib.loads((ROOT / "agent" / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[=<>\[ ]", requirement)[0] for requirement in agent["dependencies"]}
    assert names == {"httpx2", "mcp"}
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert "mcp_gateway_auth*" not in server["include"], "the server distribution does not ship it"


@pytest.mark.parametrize(
    ("case", "fix"),
    [
        ("wrong-secret", "invalid_client"),
        ("missing-secret", "no client secret: set MCP_CLIENT_SECRET"),
        ("not-logged-in", "not logged in"),
        ("forbidden-tool", "tools/call of tool 'place_trade' on server 'fininfo'"),
        ("unknown-server", "no MCP server named 'nowhere'"),
        ("bad-arguments", "--arguments is not JSON"),
        ("unreachable", "cannot reach http://127.0.0.1:9"),
        ("wrong-gateway", "without the gateway's OAuth metadata"),
    ],
)
def test_the_example_agent_fails_in_one_line_naming_the_fix(
    local_stack: Stack, tmp_path: Path, case: str, fix: str
) -> None:
    gateway = local_stack.gateway_url
    args = [
        "--gateway",
        gateway,
        "--server",
        "fininfo",
        "--tool",
        "print_stock_data",
        "--arguments",
        '{"ticker": "A"}',
    ]
    env = {"MCP_CLIENT_SECRET": "agent-dev-secret"}
    if case == "wrong-secret":
        env = {"MCP_CLIENT_SECRET": "nope"}
    elif case == "missing-secret":
        env = {}
    elif case == "not-logged-in":
        args += ["--user", "--token-file", str(tmp_path / "none.json")]
    elif case == "forbidden-tool":
        args = [*args[:4], "--tool", "place_trade", "--arguments", '{"ticker": "A", "quantity": 1}']
    elif case == "unknown-server":
        args[3] = "nowhere"
    elif case == "bad-arguments":
        args[-1] = "{ticker: A}"
    elif case == "unreachable":
        args[1] = "http://127.0.0.1:9"
    else:
        args[1] = local_stack.idp_url
    run = run_agent(*args, env=env)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agent: "), run.stderr
    assert fix in lines[0], lines[0]
    assert "nope" not in run.stderr and "agent-dev-secret" not in run.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["login", "--gateway", "http://x"], {}, "--client-id (or MCP_CLIENT_ID) is required"),
        (["login", "--client-id", "mcp-client"], {}, "--gateway (or MCP_GATEWAY_URL) is required"),
        (
            ["token", "--client-id", "mcp-gateway-agent", "--token-url", "http://x/oauth2/token"],
            {},
            "no client secret",
        ),
    ],
)
def test_the_cli_names_what_is_missing(args: list[str], env: dict[str, str], said: str) -> None:
    run = cli(*args, env=env)
    assert run.returncode == 1 and said in run.stderr and "Expecting value" not in run.stderr, run.stderr


def test_the_cli_says_when_the_gateway_url_is_not_the_gateways(local_stack: Stack) -> None:
    run = cli(
        "token",
        "--client-id",
        "mcp-gateway-agent",
        "--gateway",
        local_stack.idp_url,
        env={"MCP_CLIENT_SECRET": "s"},
    )
    assert run.returncode == 1 and "is --gateway the gateway's base URL" in run.stderr, run.stderr
