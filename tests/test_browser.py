"""A person in a real headless Chromium: log in through the local IdP, use a tool, log out, be refused."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from devstack.stack import LocalStack
from tests.servers import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("TEST_OUTPUT_DIR", ROOT / "test-output")) / "browser"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "current_time_by_timezone",
        "arguments": {"timezone": "Asia/Tokyo"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
TOOL_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "current_time_by_timezone",
}


@pytest.fixture
def stack(local_stack: LocalStack) -> LocalStack:
    return local_stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (./scripts/test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


def test_log_in_use_a_tool_log_out_be_refused(stack: LocalStack, browser: Browser) -> None:
    context = browser.new_context()
    page: Page = context.new_page()

    page.goto(f"{stack.gateway_url}/")
    page.click("#login")
    page.wait_for_url(f"{stack.idp_url}/oauth2/authorize?**")
    assert "Sign in" in page.title()
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.gateway_url}/")

    assert page.inner_text("#user") == "alice"
    assert page.inner_text("#groups") == "mcp-registry-user"
    servers = page.locator("tr.server")
    assert servers.count() == 2
    assert f"{stack.gateway_url}/currenttime/mcp" in page.inner_text("table")
    assert "current_time_by_timezone" in page.inner_text("table")
    assert "place_trade" not in page.content()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "logged-in.png"), full_page=True)

    session = next(cookie for cookie in context.cookies() if cookie["name"] == "mcp_gateway_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"

    answer = context.request.post(
        f"{stack.gateway_url}/currenttime/mcp", data=json.dumps(TOOL_CALL), headers=TOOL_HEADERS
    )
    assert answer.status == 200, answer.text()
    assert "+09:00" in answer.text()

    page.click("#logout")
    page.wait_for_url(f"{stack.gateway_url}/")
    assert page.locator("#login").is_visible()
    assert not any(cookie["name"] == "mcp_gateway_session" for cookie in context.cookies())

    refused = context.request.post(
        f"{stack.gateway_url}/currenttime/mcp", data=json.dumps(TOOL_CALL), headers=TOOL_HEADERS
    )
    assert refused.status == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]

    page.goto(f"{stack.gateway_url}/fininfo/mcp")
    page.wait_for_url(f"{stack.idp_url}/oauth2/authorize?**")
    assert page.locator("#password").is_visible(), "logged out at the IdP too: the form is shown again"
    context.close()
