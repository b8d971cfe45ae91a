"""Independent MCP clients through the gateway: the official TypeScript SDK, v1 and v2 packages.

Each scenario runs ``node tests/ts/client.mjs`` (pinned versions, installed by ``npm ci`` from
the committed lockfile) against the quick start's stack, and reads back one JSON line of what
the client saw or printed.  Nothing here is needed by users, who need no Node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import httpx2
import pytest

from devstack.stack import Stack
from tests.servers import ROOT

CLIENT = ROOT / "tests" / "ts" / "client.mjs"
REASON = "tools/call of tool 'place_trade' on server 'fininfo'"


def run(**options: Any) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "Node.js is required for these tests (./scripts/test installs the clients)"
    assert (ROOT / "tests" / "ts" / "node_modules").is_dir(), (
        "run ./scripts/test: it installs them with npm ci"
    )
    result = subprocess.run(
        [node, str(CLIENT), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CLIENT.parent,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout + result.stderr
    seen: dict[str, Any] = json.loads(lines[-1])
    return seen


def agent_token(stack: Stack) -> str:
    answer = httpx2.post(
        f"{stack.idp_url}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "mcp-servers-restricted/read"},
        auth=("mcp-gateway-agent", "agent-dev-secret"),
    )
    return str(answer.json()["access_token"])


@pytest.mark.parametrize("scenario", ["v1-http", "v2-http-legacy", "v2-http-modern"])
def test_streamable_http_in_both_protocol_eras(local_stack: Stack, scenario: str) -> None:
    seen = run(
        scenario=scenario,
        url=f"{local_stack.gateway_url}/currenttime/mcp",
        token=agent_token(local_stack),
        tool="current_time_by_timezone",
        arguments={"timezone": "UTC"},
    )
    assert seen["ok"], seen
    assert seen["tools"] == ["current_time_by_timezone"], "filtered to what the agent may call"
    assert seen["text"].endswith("+00:00") and not seen["isError"]
    if scenario == "v2-http-modern":
        assert seen["listening"], "the 2026-07-28 listen stream opened"


def test_the_old_sse_transport(local_stack: Stack) -> None:
    seen = run(
        scenario="v1-sse",
        url=f"{local_stack.gateway_url}/currenttime/sse",
        token=agent_token(local_stack),
        tool="current_time_by_timezone",
    )
    assert seen["ok"] and seen["tools"] == ["current_time_by_timezone"], seen


def test_client_credentials_from_the_gateway_url_alone(local_stack: Stack) -> None:
    seen = run(
        scenario="v2-client-credentials",
        url=f"{local_stack.gateway_url}/fininfo/mcp",
        clientId="mcp-gateway-agent",
        clientSecret="agent-dev-secret",
        issuer=local_stack.gateway_url,
    )
    assert seen["ok"], seen
    assert seen["tools"] == ["get_stock_aggregates", "print_stock_data"]


@pytest.mark.parametrize("scenario", ["v1-http", "v2-http-legacy", "v2-http-modern"])
def test_a_refusal_reaches_the_person_with_its_reason(local_stack: Stack, scenario: str) -> None:
    seen = run(
        scenario=scenario,
        url=f"{local_stack.gateway_url}/fininfo/mcp",
        token=agent_token(local_stack),
        tool="place_trade",
        arguments={"ticker": "X", "quantity": 1},
    )
    assert not seen["ok"]
    shown = seen["description"] or seen["error"]
    assert REASON in shown and "ask the administrator" in shown, seen
    assert "invalid_scope" not in shown, "no step-up that cannot succeed"


def test_resource_and_prompt_lists_are_filtered_and_a_forbidden_read_refused(local_stack: Stack) -> None:
    seen = run(
        scenario="v2-lists", url=f"{local_stack.gateway_url}/fininfo/mcp", token=agent_token(local_stack)
    )
    assert seen["ok"], seen
    assert seen["resources"] == ["fin://tickers"] and seen["templates"] == ["fin://quote/{ticker}"]
    assert seen["prompts"] == ["market_summary"] and "ACME" in seen["read"]
    assert "resources/read of resource 'fin://accounts/main' on server 'fininfo'" in seen["refused"]
